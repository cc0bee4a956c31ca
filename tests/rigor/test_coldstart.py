"""Cold start in fresh worker processes, and the noise helpers that judge repeated measurements."""

from __future__ import annotations

import pytest

from edgepick.measure import noise
from edgepick.report.rigor import cold_start_text
from edgepick.rigor import coldstart


def test_spread_statistics():
    s = coldstart.spread([3.0, 1.0, 2.0, 10.0])
    assert s["median"] == 2.5 and s["min"] == 1.0 and s["max"] == 10.0 and s["n"] == 4
    assert coldstart.spread([5.0])["iqr"] == 0.0


def test_cold_start_repeats_fresh_processes(tiny_onnx, tmp_path):
    pytest.importorskip("onnxruntime")
    import numpy as np

    from edgepick.core.artifact import Artifact

    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, **{"in:input": np.zeros((4, 1, 8, 8), np.float32)})  # the layout data.EvalData.save writes
    job = {"runtime": "onnxruntime", "artifact": Artifact("onnx", str(tiny_onnx)).to_dict(), "threads": 1, "batch": 1,
           "cores": None, "inputs": str(inputs), "timing": {}}
    cold = coldstart.cold_start(job, tmp_path / "work", repeats=2, timeout_s=60)
    assert cold["ok"] == 2, cold["failures"]
    phases = cold["phases_ms"]
    assert set(phases) == {"import ms", "load ms", "first inference ms", "time to first answer ms"}
    assert phases["import ms"]["n"] == 2 and phases["load ms"]["median"] > 0
    # two different worker pids: each repeat really was a fresh process
    import json

    pids = {json.loads((tmp_path / "work" / f"cold-{i}" / "result.json").read_text())["pid"] for i in range(2)}
    assert len(pids) == 2
    assert "cold start x2" in cold_start_text(cold)


def _row(p50, lo, hi, cv=0.02, key="a"):
    return {"key": key, "status": "ok", "batch": 1, "latency_ms": {"p50": p50, "p50_ci95": [lo, hi], "cv": cv}}


def test_assess_flags_cv_busy_machine_and_clock_change():
    quiet = {"cpu_busy_pct": 3.0, "freq_mhz": 2000.0}
    assert noise.assess(_row(1, 0.99, 1.01), quiet, quiet) == []
    assert noise.assess(_row(1, 0.9, 1.1), quiet, quiet)[0].startswith(noise.UNSTEADY)  # +-10%: the median is unsure
    warnings = noise.assess(_row(1, 0.99, 1.01, cv=0.3), {"cpu_busy_pct": 80.0, "freq_mhz": 2000.0},
                            {"cpu_busy_pct": 3.0, "freq_mhz": 1500.0})
    assert any("CV 30%" in w for w in warnings)
    assert any("busy before" in w for w in warnings)
    assert any("clock changed" in w for w in warnings)


def test_close_pairs_are_rows_whose_median_ci_overlaps_the_best():
    best, tied, far = _row(1.0, 0.95, 1.05, key="best"), _row(1.02, 1.0, 1.1, key="tied"), _row(2.0, 1.9, 2.1, key="far")
    assert noise.close_pairs([best, tied, far], best) == [tied]


def test_interleaved_verdict_sign_test():
    a = [1.0, 1.1, 1.0, 1.05, 1.0]
    assert noise.interleaved_verdict(a, [x * 0.8 for x in a])["verdict"] == "b faster"  # 5/5: p = 0.0625
    assert noise.interleaved_verdict(a, [x * 1.2 for x in a])["verdict"] == "a faster"
    mixed = noise.interleaved_verdict(a, [0.9, 1.2, 0.9, 1.2, 1.1])
    assert mixed["verdict"] == "tied" and mixed["b_wins"] == 2
    assert noise.interleaved_verdict(a[:3], [x * 0.8 for x in a[:3]])["verdict"] == "tied"  # 3 rounds cannot decide


def test_batch_median_ci_widens_under_drift():
    import numpy as np

    from edgepick.worker.latency import batch_median_ci, summarize

    rng = np.random.default_rng(0)
    drifting = (1e6 * (1 + 0.05 * rng.standard_normal(2000)) + np.linspace(0, 2e5, 2000)).astype(int)
    s = summarize(list(drifting))
    lo, hi = s["p50_ci95"]
    blo, bhi = s["p50_ci95_batches"]
    assert blo < lo and bhi > hi  # the drift-aware interval is wider
    assert blo <= s["p50"] <= bhi
    assert batch_median_ci(np.ones(30)) is None  # too few samples for 20 batches


def test_ties_use_the_drift_aware_interval_when_both_rows_have_it():
    a = _row(1.0, 0.99, 1.01, key="a")
    b = _row(1.05, 1.04, 1.06, key="b")
    assert not noise.ci_overlap(a, b)
    a["latency_ms"]["p50_ci95_batches"], b["latency_ms"]["p50_ci95_batches"] = [0.95, 1.06], [1.0, 1.1]
    assert noise.ci_overlap(a, b)


@pytest.mark.slow
def test_interleaved_windows_settle_a_forced_tie(tiny_onnx, home, fast):
    """Two real candidates, made to look tied, are re-measured A B A B; the verdict lands in the row and the tie note."""
    pytest.importorskip("onnxruntime")
    from edgepick.rigor import run as rigor
    from edgepick.select.pick import pick
    from edgepick.sweep.scheduler import Request, execute

    request = Request(model=str(tiny_onnx), runtimes=["onnxruntime"], threads=[1], batches=[1, 2], timing=fast,
                      interleave=2)
    run = execute(request)
    a, b = run.rows
    b["batch"] = a["batch"]  # compare the two as if they were rivals at the same batch
    b["latency_ms"]["p50_ci95"] = a["latency_ms"]["p50_ci95"]
    b["latency_ms"]["p50"] = a["latency_ms"]["p50"] * 1.01  # a stays the pick, whatever the two timings were
    b["latency_ms"]["p50_ci95_batches"] = a["latency_ms"].get("p50_ci95_batches")
    run_dir = home / "runs" / run.run_id
    verdicts = rigor.interleave_close([a, b], a, run_dir, run_dir / "eval_inputs.npz", request)
    assert len(verdicts) == 1 and verdicts[0]["rounds"] == 2
    assert b["interleaved"]["verdict"] == "tied"  # two rounds can never decide a sign test
    assert "interleaved A-B over 2 rounds" in pick([a, b])[1][b["key"]]
