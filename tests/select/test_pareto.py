"""Pareto front, feasibility, the pick and a reason for every rejection, on fixed rows."""

from __future__ import annotations

import pytest

from edgepick.plan.devices import load_device
from edgepick.select import pareto
from edgepick.select.budget import parse_budget, parse_objective
from edgepick.select.explain import select
from edgepick.select.pick import pick


def row(key, p50, p90=None, acc=0.98, rss=200.0, size=5.0, batch=1, status="ok", tput=None, cos=1.0, reason=None,
        ci=None):
    runtime, precision, threads, _ = key.split("/")
    return {"key": key, "runtime": runtime, "precision": precision, "threads": int(threads[1:]), "batch": batch,
            "status": status, "reason_class": None if status == "ok" else status, "reason": reason,
            "latency_ms": {"p50": p50, "p90": p90 or p50 * 1.2, "p99": p50 * 2, "mean": p50,
                           "p50_ci95": ci or [p50 * 0.99, p50 * 1.01]},
            "throughput_per_s": tput or batch * 1000 / p50, "peak_rss_mb": rss, "size_mb": size, "accuracy": acc,
            "equivalence": {"cosine": cos, "top1_agreement": 1.0}}


ROWS = [
    row("ort/fp32/t1/b1", 10.0, p90=12.0, acc=0.98, rss=150, size=5),
    row("ov/fp32/t1/b1", 8.0, p90=18.2, acc=0.98, rss=400, size=5),
    row("int8/int8/t1/b1", 6.0, p90=7.0, acc=0.957, rss=120, size=1.3),
    row("torch/fp32/t1/b1", 20.0, p90=25.0, acc=0.98, rss=1331, size=5),
    row("slowsmall/fp32/t1/b1", 12.0, p90=14.0, acc=0.98, rss=100, size=0.5),
    row("ort/fp32/t1/b8", 40.0, batch=8, tput=2000),
    {**row("bad/fp32/t1/b1", 5.0, cos=0.91), "status": "disagrees", "reason": "cosine 0.91000 < 0.9999 on output 0"},
    {"key": "oom/fp32/t1/b1", "runtime": "oom", "precision": "fp32", "threads": 1, "batch": 1, "status": "failed",
     "reason_class": "oom", "reason": "does not fit in 1 GB (memory cap, rss-watchdog)"},
]


def test_front_over_latency_accuracy_memory_size():
    ok = [r for r in ROWS if r["status"] == "ok" and r["batch"] == 1]
    front = {r["key"] for r in pareto.front(ok)}
    # torch is slower, bigger and no more accurate than ort: dominated. The rest each win somewhere.
    assert front == {"ort/fp32/t1/b1", "ov/fp32/t1/b1", "int8/int8/t1/b1", "slowsmall/fp32/t1/b1"}
    assert pareto.dominated_by(ok[3], ok)["key"] == "ov/fp32/t1/b1"  # the fastest of those that dominate it
    assert set(pareto.better_axes(ok[0], ok[3])) == {"latency", "memory"}
    assert pareto.better_axes(ok[3], ok[0]) == []


def test_default_pick_is_the_core_behaviour():
    best, reasons = pick(ROWS)
    assert best["key"] == "int8/int8/t1/b1"  # fastest p50 among rows that agree, at batch 1
    assert reasons["ort/fp32/t1/b1"] == "p50 10.000 ms vs 6.000 ms (1.67x slower)"
    assert reasons["ort/fp32/t1/b8"] == "batch 8: compared for throughput, not latency"
    assert reasons["bad/fp32/t1/b1"].startswith("disagrees with reference (cosine 0.91000)")
    assert reasons["oom/fp32/t1/b1"] == "failed (oom): does not fit in 1 GB (memory cap, rss-watchdog)"
    assert set(reasons) == {r["key"] for r in ROWS} - {"int8/int8/t1/b1"}


def test_budget_device_and_a_reason_for_every_rejection():
    sel = select(ROWS, parse_budget("p90<=15ms,acc_drop<=1%"), device=load_device("pi-class").to_dict(),
                 reference_accuracy=0.98)
    assert sel.picked["key"] == "ort/fp32/t1/b1"
    assert sel.feasible == ["ort/fp32/t1/b1", "slowsmall/fp32/t1/b1"]
    r = sel.reasons
    assert r["ov/fp32/t1/b1"] == "p90 18.2 ms > 15 ms budget"
    assert r["int8/int8/t1/b1"] == "acc drop 2.30% > 1%"
    assert "peak memory 1.3 GB > 1 GB cap (device pi-class)" in r["torch/fp32/t1/b1"]
    assert r["torch/fp32/t1/b1"].startswith("p90 25.0 ms > 15 ms budget")
    assert r["slowsmall/fp32/t1/b1"].startswith("feasible, on the Pareto front, but p50 12.000 ms vs 10.000 ms")
    assert "disagrees with reference (cosine 0.91000)" in r["bad/fp32/t1/b1"]
    assert set(r) | {sel.picked["key"]} == {x["key"] for x in ROWS}
    assert "budget p90<=15ms,acc_drop<=1% and device pi-class" in sel.verdict


def test_nothing_feasible_names_the_binding_clause_and_what_the_nearest_needs():
    sel = select(ROWS, parse_budget("p90<=5ms,mem<=500MB"))
    assert sel.picked is None
    assert sel.binding == ["p90<=5ms"]
    assert sel.clause_counts == {"p90<=5ms": 0, "mem<=500MB": 4}
    assert sel.nearest["key"] == "int8/int8/t1/b1"
    assert sel.nearest["needs"] == ["cut p90 from 7 ms to 5 ms (29% less)"]
    assert sel.verdict.startswith("nothing is feasible: p90<=5ms (met by 0 of 5) binds; nearest is int8/int8/t1/b1")


def test_other_objectives_rank_differently():
    budget = parse_budget("acc_drop<=1%")
    assert select(ROWS, budget, parse_objective("memory"), reference_accuracy=0.98).picked["key"] == "slowsmall/fp32/t1/b1"
    assert select(ROWS, budget, parse_objective("size"), reference_accuracy=0.98).picked["key"] == "slowsmall/fp32/t1/b1"
    weighted = select(ROWS, budget, parse_objective("latency=0.9,size=0.1"), reference_accuracy=0.98)
    assert weighted.picked["key"] == "ov/fp32/t1/b1"
    assert "weighted score" in weighted.reasons["ort/fp32/t1/b1"]
    # A throughput objective lets every batch size compete.
    assert select(ROWS, budget, parse_objective("throughput"), reference_accuracy=0.98).picked["key"] == "ort/fp32/t1/b8"


def test_latency_scale_is_shown_as_an_estimate():
    device = {"name": "slowboard", "cores": 1, "threads": [1], "latency_scale": 2.0}
    sel = select(ROWS, parse_budget("p90<=15ms"), device=device)
    assert sel.reasons["ort/fp32/t1/b1"] == "p90 24.0 ms (ESTIMATE: 12.0 ms here x 2 device scale) > 15 ms budget"
    assert sel.picked["key"] == "int8/int8/t1/b1"


@pytest.mark.parametrize("ci, tied", [([5.9, 6.2], True), ([9.9, 10.1], False)])
def test_statistical_tie_is_said(ci, tied):
    rows = [row("a/fp32/t1/b1", 6.0, ci=[5.9, 6.1]), row("b/fp32/t1/b1", 6.1 if tied else 10.0, ci=ci)]
    _, reasons = pick(rows)
    assert ("statistically tied" in reasons["b/fp32/t1/b1"]) is tied
