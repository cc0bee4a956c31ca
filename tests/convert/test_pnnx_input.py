"""Strided slices before pnnx (convert/pnnx_input.py): a YOLOX/YOLOv5 Focus stem (x[..., ::2, ::2] and its three
offsets, concatenated) made pnnx leave `Tensor.slice`, which ncnn has no layer for ("pnnx left ops ncnn cannot run:
Tensor.slice"). Rewritten as step-1 slices and depthwise 1x1 convolutions of stride 2 with weight 1, the graph gives
ONNX Runtime's very numbers, pnnx writes only ncnn layers, and ncnn agrees with ONNX Runtime."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgepick.convert.pnnx_input import strided_slices_as_convolutions  # noqa: E402
from edgepick.core.artifact import Artifact  # noqa: E402
from edgepick.inputs.signature import Signature, TensorSpec  # noqa: E402

SIG = Signature([TensorSpec("x", [1, 3, 16, 20])])


def focus_model(path=None):
    """x [N,3,16,20] -> four Slices with step 2 on H and W (offsets 00, 10, 01, 11; ends open) -> Concat -> Conv 3x3."""
    def const(name, value):
        return numpy_helper.from_array(np.array(value, np.int64), name)

    starts = {"s00": [0, 0], "s10": [1, 0], "s01": [0, 1], "s11": [1, 1]}
    inits = [const(k, v) for k, v in starts.items()]
    inits += [const("ends", [2**62, 2**62]), const("axes", [2, 3]), const("steps", [2, 2]),
              numpy_helper.from_array(np.random.default_rng(0).standard_normal((8, 12, 3, 3)).astype(np.float32), "w")]
    nodes = [helper.make_node("Slice", ["x", s, "ends", "axes", "steps"], [f"p{s}"]) for s in starts]
    nodes += [helper.make_node("Concat", [f"p{s}" for s in starts], ["cat"], axis=1),
              helper.make_node("Conv", ["cat", "w"], ["y"], pads=[1, 1, 1, 1])]
    graph = helper.make_graph(nodes, "focus", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 20])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 8, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    if path:
        onnx.save(model, str(path))
    return model


def _x():
    return np.random.default_rng(1).standard_normal((1, 3, 16, 20)).astype(np.float32)


def _ort(model, x):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_strided_slices_become_convolutions_with_the_same_numbers():
    model = focus_model()
    want = _ort(model, _x())
    assert strided_slices_as_convolutions(model, SIG) == 4
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node].count("Conv") == 5
    np.testing.assert_array_equal(_ort(model, _x()), want)


@pytest.mark.slow  # pnnx, as tests/runtimes/test_runtimes_native.py
@pytest.mark.skipif(importlib.util.find_spec("pnnx") is None or importlib.util.find_spec("ncnn") is None,
                    reason="pnnx and ncnn are the ncnn extra")
def test_pnnx_writes_only_ncnn_layers_and_ncnn_agrees(tmp_path):
    from edgepick.convert.chain import convert_along
    from edgepick.runtimes.ncnn import Ncnn

    focus_model(tmp_path / "focus.onnx")
    final, _ = convert_along(["pnnx"], Artifact("onnx", str(tmp_path / "focus.onnx")), SIG, tmp_path / "cache")
    assert final.meta["strided_slices_as_convolutions"] == 4
    session = Ncnn().load(final, 1)
    got = session.to_numpy(session.run(session.prepare({"x": _x()})))[0]
    # the slices are exact (0.0 without the final Conv); ncnn sums that 3x3 Conv in its own order (7.7e-5 here)
    np.testing.assert_allclose(got, _ort(focus_model(), _x()), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("pnnx") is None, reason="pnnx is the ncnn extra")
def test_pnnx_crash_on_integer_inputs_is_explained(tmp_path):
    """Issue 24 saw pnnx exit -11 on an int32 classifier. The row now says why instead of quoting pnnx's last lines."""
    from test_shape_fold import SIG as IDS
    from test_shape_fold import int_classifier

    from edgepick.convert.base import ConvertContext
    from edgepick.convert.to_ncnn import Pnnx

    onnx.save(int_classifier("concat"), tmp_path / "ints.onnx")
    try:
        Pnnx().convert(Artifact("onnx", str(tmp_path / "ints.onnx")), ConvertContext(IDS, tmp_path))
    except RuntimeError as e:
        assert "uninitialised integer inputs" in str(e), str(e)
    else:
        pytest.skip("this pnnx no longer crashes on integer inputs")
