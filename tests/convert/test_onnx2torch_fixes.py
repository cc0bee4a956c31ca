"""The graph repairs around onnx2torch (convert/onnx2torch_fixes.py) on a small graph with every pattern real exporters
write and plain onnx2torch + torch.export cannot take: weights in Constant nodes (Paddle2ONNX), a Resize with constant
scales and an empty roi, a Pad with a constant pads tensor (tf2onnx from TFLite), a Reshape whose target holds a 0,
a Slice with constant bounds, and a dynamic batch fed through Shape -> Concat -> Reshape arithmetic.
Each is checked end to end: the exported program computes what ONNX Runtime computes on the original graph."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
if importlib.util.find_spec("onnx2torch") is None:  # importorskip would import it, and it imports torchvision
    pytest.skip("onnx2torch is not installed: pip install --no-deps onnx2torch==1.5.15", allow_module_level=True)

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgepick.convert.base import ConvertContext  # noqa: E402
from edgepick.convert.onnx_to_torch import OnnxToTorch  # noqa: E402
from edgepick.core.artifact import Artifact  # noqa: E402
from edgepick.inputs.signature import Signature, TensorSpec  # noqa: E402


def _constant(name, array):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(array), name))


def _paddle_like_graph(batch_arithmetic: bool):
    """x [N,2,4,4] -> Conv (weight from a Constant node) -> Pad (pads tensor) -> Resize x2 (empty roi) -> Slice ->
    Reshape with a 0 (or, with batch_arithmetic, a target computed from Shape(x))."""
    rng = np.random.default_rng(0)
    nodes = [
        _constant("w", rng.standard_normal((3, 2, 3, 3)).astype(np.float32)),
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        _constant("pads", np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64)),
        helper.make_node("Pad", ["c", "pads"], ["p"]),
        _constant("roi", np.zeros(0, np.float32)),
        _constant("scales", np.array([1, 1, 2, 2], np.float32)),
        helper.make_node("Resize", ["p", "roi", "scales"], ["r"], mode="nearest"),
        _constant("starts", np.array([1], np.int64)), _constant("ends", np.array([9], np.int64)),
        _constant("axes", np.array([2], np.int64)),
        helper.make_node("Slice", ["r", "starts", "ends", "axes"], ["s"]),  # [N,3,8,10]
    ]
    if batch_arithmetic:
        nodes += [helper.make_node("Shape", ["x"], ["xs"]), _constant("i0", np.array([0], np.int64)),
                  helper.make_node("Gather", ["xs", "i0"], ["n"], axis=0), _constant("rest", np.array([3, -1], np.int64)),
                  helper.make_node("Concat", ["n", "rest"], ["target"], axis=0)]
    else:
        nodes.append(_constant("target", np.array([0, 3, -1], np.int64)))
    nodes.append(helper.make_node("Reshape", ["s", "target"], ["y"]))
    graph = helper.make_graph(nodes, "paddle_like", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, "L"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@pytest.mark.parametrize("batch_arithmetic", [False, True])
def test_exported_program_matches_onnxruntime(tmp_path, batch_arithmetic):
    model = _paddle_like_graph(batch_arithmetic)
    onnx.checker.check_model(model)
    source = tmp_path / "model.onnx"
    onnx.save(model, source)
    sig = Signature([TensorSpec("x", [1, 2, 4, 4], batch_dynamic=True)])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    artifact = OnnxToTorch().convert(Artifact("onnx", str(source), {}), ConvertContext(sig, out_dir))

    repairs = artifact.meta["graph_repairs"]
    assert repairs["pads"] == 1 and repairs["resizes"] == 1 and repairs["slices"] == 1
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4)).astype(np.float32)
    want = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = torch.export.load(artifact.path).module()(torch.from_numpy(x))
    got = got[0] if isinstance(got, (tuple, list)) else got
    assert got.shape == want.shape
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)
    if batch_arithmetic:  # the batch-dependent target cannot trace: the fully static retry made a batch-1 program
        assert repairs.get("all_dims_fixed_by_onnxslim") and artifact.meta["static_batch"] == 1
    else:
        assert repairs["reshapes"] == 1


def _tflite_like_graph():
    """What tf2onnx writes for a dynamic-range-quantized TFLite model: int8 weights through a per-channel
    DequantizeLinear, a Squeeze with an axes tensor, node names with ';' and ':', and opset-16 GreaterOrEqual."""
    rng = np.random.default_rng(2)
    q = helper.make_node
    nodes = [
        _constant("w_q", rng.integers(-127, 127, (3, 2, 3, 3)).astype(np.int8)),
        _constant("w_scale", np.array([0.01, 0.02, 0.03], np.float32)),
        _constant("w_zero", np.zeros(3, np.int8)),
        q("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w"], axis=0, name="model/conv;quant:0"),
        q("Conv", ["x", "w"], ["c"], name="model/conv2d;model/bn/FusedBatchNorm:0"),
        q("ReduceMean", ["c"], ["m"], axes=[2, 3], keepdims=1, name="model/gap;Mean"),
        _constant("axes", np.array([2, 3], np.int64)),
        q("Squeeze", ["m", "axes"], ["y"], name="model/gap;Squeeze:0"),
        _constant("zero", np.zeros(1, np.float32)),
        q("GreaterOrEqual", ["y", "zero"], ["ge"]),
        q("Cast", ["ge"], ["positive"], to=TensorProto.FLOAT),
    ]
    graph = helper.make_graph(nodes, "tflite_like", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3]),
                               helper.make_tensor_value_info("positive", TensorProto.FLOAT, [1, 3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)], ir_version=8)


def test_dequantized_weights_static_axes_and_odd_names_round_trip(tmp_path):
    model = _tflite_like_graph()
    onnx.checker.check_model(model)
    source = tmp_path / "model.onnx"
    onnx.save(model, source)
    sig = Signature([TensorSpec("x", [1, 2, 6, 6])])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    artifact = OnnxToTorch().convert(Artifact("onnx", str(source), {}), ConvertContext(sig, out_dir))

    assert artifact.meta["graph_repairs"]["static_axes"] == 1 and artifact.meta["graph_repairs"]["renamed"] >= 1
    x = np.random.default_rng(3).standard_normal((1, 2, 6, 6)).astype(np.float32)
    want = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    got = torch.export.load(artifact.path).module()(torch.from_numpy(x))  # loading is what failed on ';' names
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().float().numpy(), w.astype(np.float32), rtol=1e-5, atol=1e-5)
