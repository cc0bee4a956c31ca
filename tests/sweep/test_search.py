"""The search (issue 23): probes, pruning by confidence bounds, --exhaustive, pruned rows through every output.

Real runtimes on a tiny torch module that spins in its forward only inside a measurement worker: torch-eager runs
the Python forward (slow, planted), onnxruntime and openvino run the exported graph (fast; the export happens in a
conversion worker, where the module is sane). Timings are the `fast` fixture's; no test asserts a duration.
"""

from __future__ import annotations

import json

import pytest

import edgepick
from edgepick.plan.planner import Candidate
from edgepick.sweep import racing, search

SLEEPY = '''
import os, time
import torch


class Sleepy(torch.nn.Module):
    example_input_shape = (1, 4)

    def __init__(self, ms):
        super().__init__()
        torch.manual_seed(0)
        self.ms = ms
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        if os.environ.get("EDGEPICK_WORKER_ROLE") == "measure":  # busy, as a runtime computing is (never asleep)
            end = time.perf_counter() + self.ms / 1000
            while time.perf_counter() < end:
                pass
        return self.linear(x)


def slow():
    return Sleepy(20).eval()


def steady():
    return Sleepy(3).eval()
'''


@pytest.fixture
def sleepy(home):
    (home.parent / "sleepy_models.py").write_text(SLEEPY)  # home's parent is the cwd: workers import it from there
    return "sleepy_models"


def _pick(model, fast, **options):
    return edgepick.pick(model, **{"precisions": "fp32", "timing": fast, "exhaustive": False, **options})


def test_slow_candidate_is_pruned_with_its_probe_and_reason(sleepy, fast):
    # planned slow first; the prior measures onnxruntime first, so its probe is the bar torch-eager is held to
    run = _pick(f"{sleepy}:slow", fast, runtimes=["torch-eager", "onnxruntime"], threads=[1])
    rows = {r["runtime"]: r for r in run.rows}
    eager = rows["torch-eager"]
    assert rows["onnxruntime"]["status"] == "ok" and run.picked["runtime"] == "onnxruntime"
    assert eager["status"] == "pruned", eager
    assert eager["reason"].startswith("probe p50 ") and "x the best (onnxruntime/fp32/t1/b1)" in eager["reason"]
    assert eager["reason"].endswith("measure it with --exhaustive")
    assert eager["probe"]["pruned"]["ratio"] > racing.MARGIN
    assert len(eager["probe"]["windows"]) >= 2  # pruned only when a second window agrees with the first
    assert eager["latency_ms"]["p50"] >= 20 and eager["equivalence"]["cosine"] > 0.9999  # probed and checked
    assert "pruned" in run.reasons[eager["key"]] and "failed" not in run.reasons[eager["key"]]
    assert [r["key"] for r in run.rows] == ["torch-eager/fp32/t1/b1", "onnxruntime/fp32/t1/b1"]  # rows in plan order


def test_fast_candidate_measured_after_slow_ones_is_never_pruned(sleepy, fast, monkeypatch):
    # the slow runtime first: it sets a bad bar; the fast ones come after it and win
    monkeypatch.setattr(search, "PRIOR", ("torch-eager", "openvino", "onnxruntime"))
    run = _pick(f"{sleepy}:slow", fast, runtimes=["onnxruntime", "openvino", "torch-eager"], threads=[1])
    rows = {r["runtime"]: r for r in run.rows}
    assert rows["onnxruntime"]["status"] == "ok" and rows["openvino"]["status"] in ("ok", "pruned")
    assert run.picked["runtime"] in ("onnxruntime", "openvino")
    assert all(r["status"] != "pruned" or r["key"] != run.picked["key"] for r in run.rows)
    # no bar yet when it ran: probed only (two windows), then judged against the bar the race ended with and
    # pruned by its probe's own rule, never measured in full (before: a full steady state, 20 ms a call)
    eager = rows["torch-eager"]
    assert eager["status"] == "pruned", eager
    assert eager["probe"]["pruned"]["best"] in {r["key"] for r in run.rows if r["status"] == "ok"}
    assert run.context["search_outcome"]["deferred"] == 1
    if eager["probe"].get("deferred"):  # its probe's windows had their cores: judged on them, no second worker
        assert len(eager["probe"]["windows"]) >= 2 and eager["notes"][-1] == f"{racing.DEFERRED}: clearly slower"
    else:  # other work took part of its cores in a window (a shared machine): a contender, measured again
        assert eager["notes"][-1].startswith(racing.DEFERRED) and "measured in full" in eager["notes"][-1]


def test_a_deferred_row_that_still_contends_is_measured_in_full(sleepy, fast):
    # one runtime, two thread counts within noise, sent to one worker before either has a bar: both deferred; at
    # the end the better probe is the bar, never held to itself, the other within noise of it: both measured in full
    run = _pick(f"{sleepy}:steady", fast, runtimes=["torch-eager"], threads=[1, 2])
    first = next(r for r in run.rows if r["threads"] == 1)
    assert first["status"] == "ok" and not first["probe"].get("deferred"), first  # the full measurement's row
    assert any(n.startswith(racing.DEFERRED) and "measured in full" in n for n in first["notes"])
    assert "pruned" not in first["probe"] and first["latency_ms"]["samples"] >= fast.min_samples  # a steady state
    assert run.context["search_outcome"]["deferred"] == 2 and [r["status"] for r in run.rows] == ["ok", "ok"]


def test_candidates_within_noise_both_stay_contenders(sleepy, fast):
    # one and two threads of a forward dominated by a 3 ms spin: the same latency within noise
    run = _pick(f"{sleepy}:steady", fast, runtimes=["torch-eager"], threads=[1, 2])
    assert [r["status"] for r in run.rows] == ["ok", "ok"], [r.get("reason") for r in run.rows]
    assert all(r["probe"]["latency_ms"]["samples"] >= 6 and not r["probe"].get("pruned") for r in run.rows)


def test_exhaustive_measures_every_row_in_full_as_before(sleepy, fast):
    run = edgepick.pick(f"{sleepy}:slow", runtimes=["onnxruntime", "torch-eager"], threads=[1], precisions="fp32",
                        timing=fast, exhaustive=True)
    assert [r["status"] for r in run.rows] == ["ok", "ok"]
    assert all(r.get("probe") is None for r in run.rows)  # no probe in the worker's job: today's measurement
    assert "search" not in run.request  # the run key of every run before the search


def test_pruned_rows_round_trip_through_store_json_markdown_html(sleepy, fast, tmp_path):
    from edgepick.core import paths
    from edgepick.report.html import build_html
    from edgepick.report.markdown import to_markdown
    from edgepick.store.db import Store
    from edgepick.store.result import run_from_db

    run = _pick(f"{sleepy}:slow", fast, runtimes=["onnxruntime", "torch-eager"], threads=[1])
    stored = run_from_db(Store(paths.default_db_url()).get_run(run.run_id))
    again = {r["key"]: r for r in stored.rows}["torch-eager/fp32/t1/b1"]
    assert again["status"] == "pruned" and again["probe"]["pruned"] and again["reason"].startswith("probe p50")
    assert stored.picked["key"] == run.picked["key"]
    as_json = json.loads(json.dumps(stored.to_json()))
    row = {c["key"]: c for c in as_json["candidates"]}["torch-eager/fp32/t1/b1"]
    assert row["status"] == "pruned" and row["probe"]["latency_ms"]["p50"] > 0
    assert row["not_picked_because"].startswith("pruned: probe p50")
    assert "pruned" in to_markdown(stored)
    assert "pruned" in build_html(stored)
    assert stored.request["search_outcome"]["pruned"] == 1


def _cand(runtime: str, batch: int = 1) -> Candidate:
    return Candidate(runtime, "fp32", 1, batch, [])


def _probed(cand: Candidate, p50: float, lo: float, hi: float, pruned: dict | None = None, wall: float = 1.0) -> dict:
    probe = {"latency_ms": {"p50": p50, "p50_ci95": [lo, hi], "samples": 15}}
    if pruned:
        probe["pruned"] = pruned
    return {"key": cand.key, "runtime": cand.runtime, "batch": cand.batch, "status": "ok", "probe": probe,
            "worker_wall_s": wall}


def test_the_bar_is_the_lowest_upper_bound_per_batch_and_sets_the_deadline():
    race = racing.Race(enabled=True)
    a, b, c8 = _cand("onnxruntime"), _cand("openvino"), _cand("ncnn", 8)
    assert race.probe_job(a) == {"bar": None} and race.timeout_for(a, 300) == 300  # nothing to race against yet
    race.settle(a, _probed(a, 2.0, 1.9, 2.2, wall=3.0))
    race.settle(b, _probed(b, 1.0, 0.95, 1.1, wall=8.0))
    bar = race.probe_job(c8)["bar"]
    assert bar is None  # batch 8 has its own bar
    bar = race.probe_job(_cand("tvm"))["bar"]
    assert bar["best_key"] == b.key and bar["best_upper_ms"] == 1.1 and bar["margin"] == racing.MARGIN
    slow = _cand("tvm")
    assert race.timeout_for(slow, 300) == max(racing.DEADLINE_FLOOR_S, racing.DEADLINE_FACTOR * 8.0)
    timed_out = {"key": slow.key, "runtime": "tvm", "batch": 1, "status": "failed", "reason_class": "timeout"}
    race.settle(slow, timed_out)
    assert timed_out["status"] == "pruned" and "deadline" in timed_out["reason"]


def test_rule_keeps_overlapping_and_margin_close_candidates():
    from edgepick.worker.latency import clearly_slower

    bar = {"best_upper_ms": 1.1, "margin": racing.MARGIN, "best_p50_ms": 1.0, "best_key": "x"}
    assert not clearly_slower({"p50_ci95": [1.0, 1.3]}, bar)  # overlaps the best: a contender
    assert not clearly_slower({"p50_ci95": [1.4, 1.5]}, bar)  # slower, but within the margin
    assert clearly_slower({"p50_ci95": [1.5, 1.7]}, bar)


def test_search_stands_aside_where_the_pick_is_not_latency_alone(fast):
    from edgepick.sweep.settings import Settings

    assert search.stands_aside(Settings.of("m")) is None  # the default steady state: the search prunes
    assert "nothing to prune" in search.stands_aside(Settings.of("m", timing=fast))
    assert search.stands_aside(Settings.of("m", exhaustive=False, timing=fast)) is None
    assert search.stands_aside(Settings.of("m", budget="mem<=300MB"))
    assert search.stands_aside(Settings.of("m", exhaustive=True)) == "--exhaustive"


def test_history_orders_the_work_records_predictions_and_trust_history_skips(sleepy, fast, monkeypatch):
    model = f"{sleepy}:slow"
    _pick(model, fast, runtimes=["onnxruntime", "torch-eager"], threads=[1], exhaustive=True)  # the store's history
    # the prior now says torch-eager first; history says it loses, so onnxruntime runs first and sets the bar
    monkeypatch.setattr(search, "PRIOR", ("torch-eager", "onnxruntime"))
    run = _pick(model, fast, runtimes=["onnxruntime", "torch-eager"], threads=[1], force=True)
    rows = {r["runtime"]: r for r in run.rows}
    eager, ort = rows["torch-eager"], rows["onnxruntime"]
    assert eager["status"] == "pruned" and eager["reason"].startswith("probe p50")
    assert eager["prediction"]["predicted"] == "loses" and eager["prediction"]["same_model"]
    assert eager["prediction"]["agreed"] is True and eager["prediction"]["measured_ratio"] > 2
    assert ort["prediction"]["predicted"] == "contends" and ort["prediction"]["agreed"] is True
    trusted = _pick(model, fast, runtimes=["onnxruntime", "torch-eager"], threads=[1], force=True, trust_history=True)
    eager = {r["runtime"]: r for r in trusted.rows}["torch-eager"]
    assert eager["status"] == "pruned" and eager["reason"].startswith("history: p50")
    assert eager.get("latency_ms") is None  # not measured at all
    assert trusted.picked["runtime"] == "onnxruntime"


def test_each_fleet_device_races_apart_from_the_others():
    import threading
    from types import SimpleNamespace

    from edgepick.sweep.settings import Settings

    sw, seen = SimpleNamespace(race=None), {}

    def device(name: str) -> None:
        race = racing.device_race(Settings.of("m", exhaustive=False))
        race.settle(_cand("onnxruntime"), _probed(_cand("onnxruntime"), 1.0 if name == "a" else 5.0, 0.9, 1.1))
        seen[name] = racing.race_here(sw)

    threads = [threading.Thread(target=device, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["a"] is not seen["b"] and seen["a"].best[1].p50 == 1.0 and seen["b"].best[1].p50 == 5.0
    assert racing.race_here(sw) is None  # the head's own thread races nothing


_BAR = {"best_upper_ms": 0.01, "margin": racing.MARGIN, "best_p50_ms": 0.01, "best_key": "x"}


def _spin(ms: float = 1.0):
    import time

    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


class _Share:
    """A window's share of the pinned cores, as worker/contention.CoreShare reads it, planted."""

    def __init__(self, share: float):
        self.share = share

    def start(self) -> None:
        pass

    def stop(self) -> float:
        return self.share


def test_two_windows_that_got_their_cores_prune():
    from edgepick.worker.latency import probe

    found = probe(_spin, _BAR, share=_Share(1.0))  # the whole cores in every window
    assert found["pruned"] and len(found["windows"]) == 2 and found["summary"]["p50"] >= 1.0


def test_starved_windows_never_prune_and_a_contender_stops_at_one():
    from edgepick.worker import latency

    found = latency.probe(_spin, _BAR, share=_Share(0.0))  # other work had the cores in every window
    assert not found["pruned"] and len(found["windows"]) == latency.PROBE_WINDOWS
    assert all(w["cpu_share"] == 0.0 for w in found["windows"])
    fast = latency.probe(lambda: None, _BAR)  # faster than the bar: a contender after one window
    assert not fast["pruned"] and len(fast["windows"]) == 1


def test_a_deferred_probe_warms_up_as_a_steady_state_and_takes_two_windows():
    import time

    from edgepick.core.job import TimingPolicy
    from edgepick.worker import latency

    started = time.perf_counter()

    def warming():  # 2 ms a call for the first 0.45 s (lazy set-up), then 0.2 ms: a bar read early is 10x loose
        _spin(2.0 if time.perf_counter() - started < 0.45 else 0.2)

    found = latency.probe(warming, None, share=_Share(1.0), judged_later=True, warm_up=TimingPolicy())
    assert found["warm"] > 0 and not found["pruned"] and len(found["windows"]) == 2  # two that count, to judge later
    assert found["summary"]["p50"] < 0.5 and all(w["ci_low"] < 0.5 for w in found["windows"])
    started = time.perf_counter()
    early = latency.probe(warming, None, share=_Share(1.0))  # a probe's own warm-up (0.1 s): read while warming
    assert len(early["windows"]) == 1 and early["summary"]["p50"] > 1.0
