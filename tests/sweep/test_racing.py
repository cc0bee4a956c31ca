"""The race's bar must stand (sweep/racing.py): a copy found wrong never prunes a right one.

Planted from what minilm-l6-int8 showed: OpenVINO's BF16 row passed its own rule (a metric's drop) and set the bar,
its FP32 copy of the same converted graph disagreed, and the verdicts across precisions (measure/verdicts.py) failed
the BF16 row only after the sweep, when it had pruned five runtimes that agreed, one of them the true best.
The worker's probe decision is the real rule (worker/latency.clearly_slower) on planted probe figures.
"""

from __future__ import annotations

from types import SimpleNamespace

from edgepick.core import errors
from edgepick.plan.planner import Candidate
from edgepick.sweep import racing, search
from edgepick.worker.latency import clearly_slower

OV32, OV16, EAGER = (Candidate("openvino", "fp32", 2, 1, []), Candidate("openvino", "bf16", 2, 1, []),
                     Candidate("torch-eager", "fp32", 2, 1, []))
PROBES = {OV32.key: 9.0, OV16.key: 5.0, EAGER.key: 13.0}  # the probe medians, ms: OpenVINO BF16 the fastest


def _row(cand: Candidate, race: racing.Race) -> dict:
    """What the worker and the parent's judge make of a candidate, with its probe against the bar it was sent."""
    p50 = PROBES[cand.key]
    probe = {"latency_ms": {"p50": p50, "p50_ci95": [p50 * 0.98, p50 * 1.02], "samples": 20}}
    bar = race.probe_job(cand)["bar"]
    if bar and clearly_slower(probe["latency_ms"], bar):
        probe["pruned"] = {"ratio": p50 / bar["best_p50_ms"], "best": bar["best_key"], "margin": bar["margin"],
                           "best_upper_ms": bar["best_upper_ms"]}
    row = {"key": cand.key, "runtime": cand.runtime, "precision": cand.precision, "threads": 2, "batch": 1,
           "status": "ok", "reason_class": None, "reason": None, "probe": probe, "latency_ms": {"p50": p50},
           "equivalence": {"max_abs_err": 0.001, "cosine": 0.999999}}
    if cand.runtime == "openvino":  # the converted copy is wrong; BF16's own rule (the metric's drop) let it pass
        row["equivalence"] = {"max_abs_err": 0.2, "cosine": 0.9994 if cand is OV32 else 0.9999}
        if cand is OV32:
            row.update(status="disagrees", reason_class=errors.DISAGREES, reason="max abs error 0.2 > 0.005")
    return row


def _sweep(race: racing.Race, done: dict | None = None):
    saved, measured = [], []

    def measure(cand, run_dir):
        measured.append(cand.key)
        return _row(cand, race)

    request = SimpleNamespace(search=SimpleNamespace(trust_history=False))
    sw = SimpleNamespace(done=done or {}, request=request, notify=lambda *a: None, measure=measure,
                         save=saved.append, rows=[], run_dir=None)
    return sw, saved, measured


def test_a_reduced_row_whose_fp32_copy_disagrees_never_sets_the_bar():
    race = racing.Race(enabled=True)
    sw, saved, _ = _sweep(race)
    search._measure_in_order(sw, race, [OV32, OV16, EAGER], {}, [OV32, OV16, EAGER], None)
    rows = {r["key"]: r for r in sw.rows}
    assert rows[OV16.key]["status"] == "disagrees" and "FP32 copy" in rows[OV16.key]["reason"]
    assert rows[EAGER.key]["status"] == "ok", rows[EAGER.key]  # without the fix: pruned against OpenVINO BF16
    assert "pruned" not in rows[EAGER.key]["probe"] and race.best[1].key == EAGER.key
    assert any(r is rows[OV16.key] for r in saved)


def test_the_same_rows_against_a_bar_that_stands_are_pruned():
    # the control: had the BF16 row been right, the same probes prune torch-eager (so the test above can fail)
    race = racing.Race(enabled=True)
    race.record(OV16, dict(_row(OV16, race), equivalence={"max_abs_err": 0.01, "cosine": 0.99999}))
    eager = _row(EAGER, race)
    race.record(EAGER, eager)
    assert eager["status"] == "pruned" and eager["probe"]["pruned"]["best"] == OV16.key
    assert race.stale() == []


def test_a_row_pruned_against_a_bar_that_falls_later_is_measured_again():
    # resumed rows (an interrupted run): BF16 set the bar and pruned torch-eager; its FP32 copy is measured now
    race = racing.Race(enabled=True)
    bf16 = _row(OV16, race)
    race.settle(OV16, bf16)
    pruned_eager = _row(EAGER, race)
    race.settle(EAGER, pruned_eager)
    assert pruned_eager["status"] == "pruned"
    race = racing.Race(enabled=True)  # the new run's race, the two rows resumed from the store
    sw, saved, measured = _sweep(race, done={OV16.key: bf16, EAGER.key: pruned_eager})
    search._measure_in_order(sw, race, [OV16, OV32, EAGER], {}, [OV32], None)
    rows = {r["key"]: r for r in sw.rows}
    assert measured == [OV32.key, EAGER.key]  # FP32 measured; torch-eager once more, its bar fallen
    assert rows[OV16.key]["status"] == "disagrees" and rows[EAGER.key]["status"] == "ok"
    assert any(n.startswith(f"measured again: first pruned against {OV16.key}") for n in rows[EAGER.key]["notes"])
    assert race.stale() == []


def test_an_fp32_row_passed_beside_its_reduced_row_is_raced_on_its_own_probe():
    # the other way round: FP32 rejected on closeness, BF16 passes with larger errors -> FP32 passes beside it, and
    # its probe (clearly slower than the bar) makes it pruned, never a pick on probe figures
    race = racing.Race(enabled=True)
    race.record(EAGER, _row(EAGER, race))  # the bar: torch-eager 13 ms
    PROBES[OV32.key] = 40.0
    try:
        fp32 = _row(OV32, race)
        fp32["equivalence"] = {"max_abs_err": 0.01, "cosine": 0.9999}
        race.record(OV32, fp32)
        assert fp32["status"] == "disagrees"
        bf16 = dict(_row(OV16, race), equivalence={"max_abs_err": 0.02, "cosine": 0.9998})
        changed = race.record(OV16, bf16)
    finally:
        PROBES[OV32.key] = 9.0
    assert changed == [fp32] and fp32["status"] == "pruned" and "passes beside" in fp32["notes"][0]
    assert race.best[1].key == OV16.key  # 5 ms, agreeing: the bar now


def _deferred_row(cand: Candidate, p50: float, shares=(1.0, 1.0)) -> dict:
    """A row probed before any bar: two windows (their CIs +-2%), no steady state."""
    windows = [{"p50": p50, "ci_low": p50 * 0.98, "cpu_share": s} for s in shares]
    probe = {"latency_ms": {"p50": p50, "p50_ci95": [p50 * 0.98, p50 * 1.02], "samples": 20}, "windows": windows,
             "deferred": True}
    return {"key": cand.key, "runtime": cand.runtime, "precision": cand.precision, "threads": 2, "batch": 1,
            "status": "ok", "reason_class": None, "reason": None, "probe": probe, "latency_ms": {"p50": p50},
            "equivalence": {"max_abs_err": 0.001, "cosine": 0.999999}}


def test_the_first_runtime_is_deferred_judged_at_the_end_and_its_bar_still_stands():
    ort, ov, eager = (Candidate("onnxruntime", "fp32", 2, 1, []), Candidate("openvino", "fp32", 2, 1, []),
                      Candidate("torch-eager", "fp32", 2, 1, []))
    race = racing.Race(enabled=True)
    race.expect([ort, ov, eager], {})
    assert race.probe_job(ort) == {"bar": None, "defer": True}  # no bar, others of its batch to come
    race.record(ort, _deferred_row(ort, 4.0))  # its probe is the bar now
    assert race.probe_job(ov)["bar"]["best_key"] == ort.key and "defer" not in race.probe_job(ov)
    slow = _row(eager, race)  # 13 ms against the 4 ms bar: pruned by its probe
    race.record(eager, slow)
    assert slow["status"] == "pruned" and slow["probe"]["pruned"]["best"] == ort.key
    PROBES[ov.key] = 1.0
    try:
        race.record(ov, _row(ov, race))  # OpenVINO 1 ms: a contender, measured in full, the bar now
    finally:
        del PROBES[ov.key]
    measured, recorded = [], []
    race.finish(lambda c: measured.append(c.key) or {}, lambda c, r: recorded.append((c.key, r)) or race.record(c, r))
    first = race.settled[ort.key][1]
    assert first["status"] == "pruned" and first["probe"]["pruned"]["best"] == ov.key  # 4 ms: clearly slower
    assert first["notes"] == [f"{racing.DEFERRED}: clearly slower"]
    assert measured == [] and race.stale() == []  # its pruned row (torch-eager) is not measured again: 13 > 4 > 1


def test_a_deferred_probe_whose_windows_did_not_count_is_measured_in_full():
    ort, ov = Candidate("onnxruntime", "fp32", 2, 1, []), Candidate("openvino", "fp32", 2, 1, [])
    race = racing.Race(enabled=True)
    race.expect([ort, ov], {"onnxruntime/fp32/t2/b1": {"history_ratio": 3.0}})
    race.record(ort, _deferred_row(ort, 4.0, shares=(1.0, 0.5)))  # other work took half the cores in a window
    PROBES[ov.key] = 1.0
    try:
        race.record(ov, _row(ov, race))
    finally:
        del PROBES[ov.key]
    measured = []
    race.finish(lambda c: measured.append(c.key) or dict(_deferred_row(c, 4.0), probe={}), lambda c, r: None)
    assert measured == [ort.key]  # one window that counts never prunes: measured in full instead


def test_history_s_likely_best_and_the_last_of_its_batch_are_never_deferred():
    ort, ov = Candidate("onnxruntime", "fp32", 2, 1, []), Candidate("openvino", "fp32", 2, 1, [])
    race = racing.Race(enabled=True)
    race.expect([ort, ov], {ort.key: {"history_ratio": 1.0}})
    assert race.probe_job(ort) == {"bar": None}  # history calls it the likely best: measured in full at once
    race = racing.Race(enabled=True)
    race.expect([ov], {})
    assert race.probe_job(ov) == {"bar": None}  # nothing else of its batch size to come: nothing to wait for
