"""Pure functions: shape strings, sizes, latency statistics, equivalence, registry, conversion graph."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.core.errors import UserError
from edgepick.core.job import TimingPolicy
from edgepick.core.registry import Registry
from edgepick.core.units import parse_int_list, parse_size
from edgepick.inputs.signature import Signature, TensorSpec, apply_shapes, parse_input_shapes
from edgepick.measure.equivalence import Tolerance, compare
from edgepick.plan.formats import shortest_path
from edgepick.select.pick import pick
from edgepick.worker.latency import median_ci, summarize, timed_loop


def test_parse_input_shapes():
    assert parse_input_shapes("1x3x224x224") == {None: [1, 3, 224, 224]}
    assert parse_input_shapes("ids=1x128,mask=1x128") == {"ids": [1, 128], "mask": [1, 128]}
    for bad in ("1x0", "1,2", "x", "ids=1x,mask=1x2", "1x3.5"):
        with pytest.raises(UserError):
            parse_input_shapes(bad)


def test_apply_shapes_resolves_dynamic_batch_and_checks_names():
    sig = Signature([TensorSpec("x", [None, 3, 8, 8], "float32", True)])
    apply_shapes(sig, {})
    assert sig.inputs[0].shape == [1, 3, 8, 8] and sig.inputs[0].batch_dynamic
    with pytest.raises(UserError, match="not inputs"):
        apply_shapes(sig, {"y": [1, 2]})


def test_sizes_and_lists():
    assert parse_size("512MB") == 512 * 10**6 and parse_size("1GiB") == 2**30 and parse_size("1.5 GB") == 1.5e9
    for bad in ("512", "MB", "-1MB", "1 TB"):
        with pytest.raises(UserError):
            parse_size(bad)
    assert parse_int_list("1,2,2", "--threads") == [1, 2]


def test_summary_statistics_on_known_samples():
    samples = [i * 1_000_000 for i in range(1, 102)]  # 1..101 ms
    s = summarize(samples)
    assert s["p50"] == 51 and s["min"] == 1 and s["max"] == 101 and s["samples"] == 101
    assert s["mean"] == pytest.approx(51) and s["std"] == pytest.approx(np.std(np.arange(1, 102), ddof=1))
    lo, hi = s["p50_ci95"]
    assert 39 <= lo < 51 < hi <= 63  # binomial order statistics: ranks 40 and 62 of 101


def test_median_ci_covers_the_true_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    hits = sum(lo <= 0 <= hi for lo, hi in (median_ci(np.sort(rng.standard_normal(200))) for _ in range(400)))
    assert 0.92 <= hits / 400 <= 0.99


def test_timed_loop_needs_both_minimum_samples_and_duration():
    calls = []
    samples, warm = timed_loop(lambda: calls.append(1), TimingPolicy(warmup_count=3, warmup_s=0.0, min_samples=20,
                                                                     min_duration_s=0.05))
    assert warm >= 3 and len(samples) >= 20 and sum(samples) > 0
    assert len(calls) == warm + len(samples)


def test_equivalence_verdicts():
    ref = [np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])]
    assert compare(ref, [ref[0] + 1e-6], Tolerance())["agrees"]
    off = compare(ref, [ref[0] + 0.1], Tolerance())
    assert not off["agrees"] and "max abs error" in off["why"]
    swapped = compare(ref, [ref[0][:, ::-1]], Tolerance(atol=10))
    assert not swapped["agrees"] and swapped["top1_agreement"] == 0.0
    assert not compare(ref, [np.zeros((3, 3))], Tolerance())["agrees"]


def test_registry_refuses_duplicates_and_imports_lazily():
    reg = Registry("things", {"a": "json:dumps"})
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", "json:loads")
    import json

    assert reg.get("a") is json.dumps


def test_conversion_graph_paths():
    assert shortest_path("onnx", ("onnx",)) == []
    assert shortest_path("torch-factory", ("openvino-ir",)) == ["torch-to-onnx", "onnx-to-openvino"]
    assert shortest_path("openvino-ir", ("torch-factory",)) is None


def _row(key, status, p50, batch=1):
    return {"key": key, "runtime": key, "status": status, "batch": batch, "reason_class": None if status == "ok" else "crash",
            "reason": None if status == "ok" else "boom",
            "latency_ms": {"p50": p50, "p50_ci95": [p50 * 0.99, p50 * 1.01]} if p50 else None}


def test_pick_is_the_fastest_agreeing_row_at_the_smallest_batch():
    rows = [_row("a", "ok", 2.0), _row("b", "ok", 1.0), _row("c", "disagrees", 0.5), _row("d", "failed", None),
            _row("e", "ok", 0.1, batch=8)]
    best, reasons = pick(rows)
    assert best["key"] == "b"
    assert "2.00x slower" in reasons["a"] and "disagrees" in reasons["c"] and "crash" in reasons["d"]
    assert "throughput" in reasons["e"]
    assert pick([_row("d", "failed", None)])[0] is None


def test_usable_path_routes_around_a_missing_converter(monkeypatch):
    from edgepick.core.registry import CONVERTERS
    from edgepick.plan.formats import shortest_path, usable_path

    missing = CONVERTERS.get("onnx-to-openvino")
    monkeypatch.setattr(missing, "is_available", classmethod(lambda cls: False))
    assert shortest_path("onnx", ("openvino-ir",), installed_only=True) is None
    assert usable_path("onnx", ("openvino-ir",)) == ["onnx-to-openvino"]  # none usable: the row names what to install

    for name, usable in (("torch-to-litert", False), ("torch-to-onnx", True), ("onnx2tf", True)):
        monkeypatch.setattr(CONVERTERS.get(name), "is_available", classmethod(lambda cls, ok=usable: ok))
    assert shortest_path("torch-factory", ("tflite",)) == ["torch-to-litert"]
    assert usable_path("torch-factory", ("tflite",)) == ["torch-to-onnx", "onnx2tf"]
