"""`edgepick compare`: lined up by key, per-metric deltas, a regression only when significant AND large."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import edgepick
from edgepick.core.errors import UserError
from edgepick.select.compare import compare_runs, parse_threshold
from edgepick.store.result import Run


def _row(key: str, samples: np.ndarray, status: str = "ok") -> dict:
    return {"key": key, "status": status, "reason": None if status == "ok" else "boom",
            "latency_ms": {"p50": float(np.median(samples)), "p90": float(np.percentile(samples, 90)),
                           "p99": float(np.percentile(samples, 99))},
            "latency_samples_ms": samples.tolist(), "throughput_per_s": 1000 / float(np.mean(samples)),
            "peak_rss_mb": 100.0, "size_mb": 1.0}


def _run(run_id: str, rows: list[dict]) -> Run:
    return Run(run_id, "m", "hash", {}, {"cpu_model": "x"}, rows, None, {})


def _samples(seed: int, n: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(mean=0.0, sigma=0.1, size=n) * scale


def test_verdicts():
    a = _run("A", [_row("slow", _samples(1, 400)), _row("same", _samples(2, 400)), _row("tiny", _samples(3, 20000)),
                   _row("noisy", _samples(4, 5)), _row("broke", _samples(5, 400)), _row("gone", _samples(6, 10))])
    b = _run("B", [_row("slow", _samples(11, 400, 1.2)), _row("same", _samples(12, 400)),
                   _row("tiny", _samples(13, 20000, 1.02)), _row("noisy", _samples(14, 5, 1.1)),
                   _row("broke", _samples(15, 400), status="failed"), _row("new", _samples(16, 10))])
    result = compare_runs(a, b, threshold=0.05, alpha=0.01)
    by = {c["key"]: c for c in result["candidates"]}
    assert by["slow"]["verdict"] == "regression" and by["slow"]["p_value"] < 1e-10
    assert by["slow"]["deltas"]["p50 ms"]["change"] == pytest.approx(0.2, abs=0.04)
    assert by["same"]["verdict"] == "unchanged" and "not significant" in by["same"]["why"]
    assert by["tiny"]["verdict"] == "unchanged" and "significant but within the threshold" in by["tiny"]["why"]
    assert by["noisy"]["verdict"] == "unchanged"  # 5 samples each: a 10% shift is not significant at 0.01
    assert by["broke"]["verdict"] == "regression" and "ok -> failed" in by["broke"]["why"]
    assert by["gone"]["verdict"] == "only-in-a" and by["new"]["verdict"] == "only-in-b"
    assert result["regressions"] == ["slow", "broke"]
    faster = compare_runs(b, a)
    assert "slow" in faster["improvements"]
    assert compare_runs(a, b, threshold=0.25)["regressions"] == ["broke"]


def test_threshold_parsing():
    assert parse_threshold("5%") == 0.05 and parse_threshold("12.5 %") == 0.125
    for bad in ("5", "five%", "-1%"):
        with pytest.raises(UserError):
            parse_threshold(bad)


def test_cli_on_two_real_runs(home, tiny_onnx, fast):
    first = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, timing=fast)
    second = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, timing=fast, force=True)
    assert first.run_id != second.run_id
    cli = str(Path(sys.executable).with_name("edgepick"))
    proc = subprocess.run([cli, "compare", first.run_id, second.run_id, "--json"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    (cand,) = result["candidates"]
    assert cand["key"] == "onnxruntime/fp32/t1/b1" and 0 <= cand["p_value"] <= 1
    assert result["same_model"] and result["same_machine"]
    table = subprocess.run([cli, "compare", first.run_id, second.run_id], capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "regression(s)" in table.stdout
    bad = subprocess.run([cli, "compare", first.run_id, second.run_id, "--threshold", "5"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "bad --threshold" in bad.stderr
