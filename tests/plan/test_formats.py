"""The conversion graph, `edgepick formats` / `doctor`, the README matrix, and Caffe/Darknet detection."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from edgepick.cli import doctor
from edgepick.core.errors import UserError
from edgepick.core.registry import RUNTIMES
from edgepick.plan.formats import FORMATS, edges, shortest_path


def test_every_edge_and_runtime_format_is_a_known_node():
    for src, dst, name in edges():
        assert src in FORMATS and dst in FORMATS, name
    for name, rt in RUNTIMES.all().items():
        assert all(f in FORMATS for f in rt.formats), name


def test_shortest_paths_for_torch_input():
    assert shortest_path("torch-factory", ("torchscript",)) == ["torch-to-torchscript"]
    assert shortest_path("torch-factory", ("executorch-pte",)) == ["torch-to-executorch"]
    assert shortest_path("torch-factory", ("ncnn",))[-1] == "pnnx"
    assert shortest_path("onnx", ("tvm-relax",)) == ["onnx-to-tvm"]
    assert shortest_path("caffe", RUNTIMES.get("opencv-dnn").formats) == []
    assert shortest_path("caffe", ("onnx",)) is None


def test_markdown_matrix_covers_every_runtime_and_input():
    text = doctor.markdown_matrix()
    header = text.splitlines()[0]
    for name in RUNTIMES.names():
        assert f" {name} " in header
    row = next(ln for ln in text.splitlines() if ln.startswith("| onnx |"))
    assert "onnx-to-tvm" in row and "direct" in row


def test_formats_and_doctor_print(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEPICK_HOME", str(tmp_path))
    out = io.StringIO()
    console = Console(file=out, width=400)
    doctor.print_formats(console)
    bad = doctor.print_doctor(console)
    text = out.getvalue()
    assert "pnnx" in text and "torchscript" in text and "runtimes" in text
    statuses = doctor.runtime_status()
    assert {s["name"] for s in statuses} == set(RUNTIMES.names())
    assert bad == sum(not s["usable"] for s in statuses) + sum(not c["usable"] for c in doctor.converter_status())
    for s in statuses:  # an unusable runtime always says why and what to run
        assert s["usable"] or (s["why_not"] and s["install"])


PROTOTXT = '''name: "tiny"
input: "data"
input_dim: 1
input_dim: 3
input_dim: 16
input_dim: 16
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 4 kernel_size: 3 } }
'''

PROTOTXT_INPUT_LAYER = '''layer {
  name: "image" type: "Input" top: "image"
  input_param { shape { dim: 1 dim: 1 dim: 8 dim: 8 } }
}
'''


def test_caffe_detection_reads_the_input_and_finds_the_weights(tmp_path):
    from edgepick.inputs.model import load_model

    (tmp_path / "tiny.prototxt").write_text(PROTOTXT)
    with pytest.raises(UserError, match="tiny.caffemodel"):
        load_model(str(tmp_path / "tiny.prototxt"))
    (tmp_path / "tiny.caffemodel").write_bytes(b"\x0a\x04tiny")
    spec = load_model(str(tmp_path / "tiny.prototxt"))
    assert spec.artifact.format == "caffe" and spec.artifact.meta["weights"].endswith("tiny.caffemodel")
    assert spec.signature.inputs[0].name == "data" and spec.signature.inputs[0].shape == [1, 3, 16, 16]


def test_caffe_input_layer_form():
    from edgepick.inputs.opencv_models import caffe_inputs

    (spec,) = caffe_inputs(PROTOTXT_INPUT_LAYER)
    assert spec.name == "image" and spec.shape == [1, 1, 8, 8]
    with pytest.raises(UserError, match="input shape"):
        caffe_inputs('layer { name: "x" type: "ReLU" }')
