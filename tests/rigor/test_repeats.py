"""Repeated fresh-process windows (--repeats) and the noise trigger (the median's CI, not the spread)."""

from __future__ import annotations

import math

import pytest
from tests.helpers import FAST_ARGS, cli

from edgepick.measure import noise
from edgepick.rigor import repeats


def _lat(p50, lo=None, hi=None, **extra):
    base = {"p50": p50, "p90": p50 * 1.1, "p99": p50 * 1.5, "mean": p50 * 1.05, "min": p50 * 0.9, "max": p50 * 3,
            "cv": 0.05, "samples": 100, "p50_ci95": [lo if lo is not None else p50 * 0.99, hi if hi is not None else p50 * 1.01]}
    return base | extra


def test_t_interval_over_process_medians_by_hand():
    # medians 1.0, 1.2, 1.1: mean 1.1, sd 0.1, t(0.975, 2) = 4.303 -> half width 4.303 * 0.1 / sqrt(3) = 0.24844
    mean, lo, hi = repeats.process_ci([1.0, 1.2, 1.1])
    assert mean == pytest.approx(1.1)
    assert hi - mean == pytest.approx(4.303 * 0.1 / math.sqrt(3), rel=1e-6)
    assert mean - lo == pytest.approx(0.248438, rel=1e-4)
    assert repeats.t975(1) == 12.706 and repeats.t975(30) == 2.042 and repeats.t975(100) == pytest.approx(1.96, abs=1e-3)


def test_combine_keeps_every_process_and_is_never_narrower_than_the_first():
    first = _lat(1.0, 0.9, 1.1)
    out = repeats.combine(first, [_lat(1.0), _lat(1.0)])  # three equal medians: t-interval of width 0
    assert out["p50"] == pytest.approx(1.0)
    lo, hi = out["p50_ci95_processes"]
    assert lo <= 0.9 + 1e-12 and hi >= 1.1 - 1e-12  # the first process's own uncertainty is kept
    out = repeats.combine(_lat(1.0), [_lat(1.3), _lat(0.8)])
    assert out["processes"]["p50_ms"] == [1.0, 1.3, 0.8] and out["processes"]["count"] == 3
    assert out["p50"] == pytest.approx(1.0333333) and out["samples"] == 300
    assert out["processes"]["spread_pct"] == pytest.approx(100 * 0.5 / 1.0333333, rel=1e-6)
    assert out["p50_ci95_within"] == [0.99, 1.01]
    ci, how = noise.best_ci(out)
    assert ci == out["p50_ci95_processes"] and "3 processes" in how
    assert noise.best_ci(_lat(1.0))[1] == "order statistics of one process"
    assert noise.best_ci(_lat(1.0, p50_ci95_batches=[0.8, 1.2]))[0] == [0.8, 1.2]


def test_noise_retry_follows_the_medians_ci_not_the_spread_or_the_tail():
    quiet = {"cpu_busy_pct": 1.0}
    tail_only = {"status": "ok", "latency_ms": _lat(1.0, cv=4.0, robust_cv=0.02)}
    warnings = noise.assess(tail_only, quiet, quiet)
    assert len(warnings) == 1 and warnings[0].startswith("CV 400%") and "median is steady" in warnings[0]
    assert not warnings[0].startswith(noise.UNSTEADY)
    spread = {"status": "ok", "latency_ms": _lat(1.0, cv=0.3, robust_cv=0.25, p50_ci95_batches=[0.98, 1.03])}
    warnings = noise.assess(spread, quiet, quiet)
    assert len(warnings) == 1 and warnings[0].startswith(noise.SPREAD) and "25%" in warnings[0]
    assert "CI +-2.5%" in warnings[0] and not noise.moved(spread["latency_ms"])
    moved = {"status": "ok", "latency_ms": _lat(1.0, cv=0.3, robust_cv=0.04, p50_ci95_batches=[0.9, 1.08])}
    warnings = noise.assess(moved, quiet, quiet)
    assert warnings[0].startswith(noise.UNSTEADY) and "+-9.0%" in warnings[0]
    # without batch medians (under 40 samples) the order-statistic CI is the one the window has
    assert noise.median_halfwidth(_lat(2.0, 1.8, 2.2)) == pytest.approx(0.1)


def test_robust_cv_ignores_a_rare_spike():
    from edgepick.worker.latency import summarize

    samples = [10_000 + (i % 7) * 10 for i in range(2000)]
    samples[500] = 10_000_000  # one preempted call, 1000x the median
    lat = summarize(samples)
    assert lat["cv"] > 1.0 and lat["robust_cv"] < 0.01


def test_repeats_measure_each_candidate_in_fresh_processes(home, tiny_onnx):
    pytest.importorskip("onnxruntime")
    # FP32 only: on a BF16/FP16 CPU OpenVINO's reduced-precision rows would add candidates (tests/plan/test_precision.py)
    proc = cli("run", str(tiny_onnx), "--runtimes", "onnxruntime,openvino", "--repeats", "3", "--precision", "fp32",
               *FAST_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert "t-interval over per-process medians (3 processes)" in proc.stdout  # the pick line names its CI
    from edgepick.core import paths
    from edgepick.store.db import Store
    from edgepick.store.result import row_from_db

    store = Store(paths.default_db_url())
    run = store.get_run(store.list_runs()[0].id)
    rows = [row_from_db(c) for c in run.candidates]
    for row in rows:
        assert row["status"] == "ok", row
        procs = row["latency_ms"]["processes"]
        assert procs["count"] == 3 and len(procs["p50_ms"]) == 3
        lo, hi = row["latency_ms"]["p50_ci95_processes"]
        assert lo <= row["latency_ms"]["p50"] <= hi
    pids = {p.name for p in (home / "runs" / run.id / "repeats").iterdir()}
    assert len(pids) == 4  # 2 candidates x 2 extra processes, each its own work dir
    again = cli("show", run.id, "--ops")
    assert again.returncode == 0 and "per-process p50" in again.stdout


def test_repeats_must_be_positive(home, tiny_onnx):
    proc = cli("run", str(tiny_onnx), "--repeats", "0", *FAST_ARGS)
    assert proc.returncode == 2 and "--repeats" in proc.stderr and "Traceback" not in proc.stderr
