"""Dynamic input dimensions are compiled for the concrete shapes being measured, and the row says so."""

from __future__ import annotations

import pytest

import edgepick


@pytest.fixture
def dynamic_hw_onnx(tmp_path):
    """A small conv net exported with dynamic batch, height and width (as detectors and OCR nets ship)."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                torch.nn.Linear(8, 5)).eval()
    path = tmp_path / "dyn.onnx"
    torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), str(path), input_names=["images"], output_names=["out"],
                      dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}}, dynamo=False)
    return path


def test_openvino_and_ort_compile_for_the_measured_shapes(home, dynamic_hw_onnx, fast):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    run = edgepick.pick(str(dynamic_hw_onnx), input_shape="1x3x40x48", runtimes=["openvino", "onnxruntime"], threads=1,
                        batches=[2], timing=fast, precisions=["fp32"])
    rows = {r["runtime"]: r for r in run.rows}
    for row in rows.values():
        assert row["status"] == "ok", row
        assert row["runtime_details"]["shape_mode"] == "static", row["runtime_details"]
    assert rows["openvino"]["runtime_details"]["compiled_shapes"] == {"images": "[2,3,40,48]"}
    ort = rows["onnxruntime"]["runtime_details"]
    assert ort["compiled_shapes"] == {"images": [2, 3, 40, 48]}
    assert ort["free_dimension_overrides"] == {"batch": 2, "height": 40, "width": 48}


def test_shape_helpers_match_by_name_then_position():
    from edgepick.runtimes.base import shapes_by_name
    from edgepick.runtimes.onnxruntime import free_dimension_overrides

    assert shapes_by_name(["a", "b"], {"b": [1], "a": [2]}) == {"a": [2], "b": [1]}
    assert shapes_by_name(["x:0"], {"x": [1, 3]}) == {"x:0": [1, 3]}  # a converter renamed the only input
    dims = {"x": ["batch", 3, None, 8]}  # an unnamed dynamic dimension cannot be overridden by name
    assert free_dimension_overrides(dims, {"x": [4, 3, 5, 8]}) == ({"batch": 4}, "dynamic")
    assert free_dimension_overrides({"x": ["n", 3]}, {"x": [4, 3]}) == ({"n": 4}, "static")
    assert free_dimension_overrides({"x": ["n", 3]}, {}) == ({}, "dynamic")


def test_openvino_compiles_what_benchmark_app_compiles(home, dynamic_hw_onnx, fast):
    """Setting by setting (load-independent): the compiled model edgepick times has the properties and input shape
    of the one `benchmark_app -shape ... -hint none -nstreams 1 -nthreads 1 -infer_precision f32` times."""
    import re
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("openvino")
    from edgepick.runtimes.openvino import COMPARED_PROPERTIES

    tool = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    if not Path(tool).exists():
        pytest.skip("benchmark_app (ships with the openvino wheel) is not on PATH")
    out = subprocess.run([tool, "-m", str(dynamic_hw_onnx), "-d", "CPU", "-shape", "[1,3,40,48]", "-hint", "none",
                          "-api", "sync", "-nstreams", "1", "-nthreads", "1", "-infer_precision", "f32", "-t", "1"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    theirs = {k: v.strip() for k, v in re.findall(r"\[ INFO \]\s+([A-Z_]+): (.*)", out) if k in COMPARED_PROPERTIES}
    run = edgepick.pick(str(dynamic_hw_onnx), input_shape="1x3x40x48", runtimes=["openvino"], threads=1, timing=fast,
                        precisions=["fp32"])
    details = run.rows[0]["runtime_details"]
    assert details["properties"] == theirs
    assert re.search(r"Model inputs:\s*\n.*/ \[1,3,40,48\]\s*$", out, re.M) and details["compiled_shapes"] == {
        "images": "[1,3,40,48]"}
