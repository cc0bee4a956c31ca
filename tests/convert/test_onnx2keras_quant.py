"""QuantizeLinear / DequantizeLinear for onnx2keras (convert/onnx2keras_quant.py): a QDQ graph (what tf2onnx makes of
an int8 TFLite model; onnx2keras: "no converter for ONNX op(s) DequantizeLinear") reaches Keras on JAX and computes
what ONNX Runtime computes for the same graph run op by op (optimisations off, so ORT does not swap in its integer
kernels, whose requantisation may round differently)."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.inputs.signature import Signature, TensorSpec

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx2keras_check import keras_and_onnxruntime  # noqa: E402
from tests.onnx_graphs import save_checked  # noqa: E402


def qdq_model(path):
    """x -> Q/DQ (uint8, per tensor) -> Conv with an int8 weight dequantized per output channel -> Q/DQ (int8)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8), "wq"),
             numpy_helper.from_array(rng.uniform(0.001, 0.02, 4).astype(np.float32), "ws"),
             numpy_helper.from_array(np.zeros(4, np.int8), "wz"),
             numpy_helper.from_array(np.float32(0.02), "xs"), numpy_helper.from_array(np.uint8(128), "xz"),
             numpy_helper.from_array(np.float32(0.01), "ys"), numpy_helper.from_array(np.int8(-3), "yz")]
    node = helper.make_node
    nodes = [node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]), node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0),
             node("Conv", ["xd", "w"], ["c"], pads=[1, 1, 1, 1]),
             node("QuantizeLinear", ["c", "ys", "yz"], ["cq"]), node("DequantizeLinear", ["cq", "ys", "yz"], ["y"])]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 7, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 7, 7])], inits)
    save_checked(graph, path, ir_version=8)


@pytest.mark.slow
def test_qdq_graph_reaches_keras_on_jax(tmp_path):
    path = tmp_path / "qdq.onnx"
    qdq_model(path)
    x = (3 * np.random.default_rng(1).standard_normal((1, 2, 7, 7))).astype(np.float32)  # saturates some
    signature = Signature([TensorSpec("x", [1, 2, 7, 7], "float32")])
    got, want = keras_and_onnxruntime(path, signature, x, ort_optimizations=False)
    got, want = got[0], want[0]
    assert len(np.unique(want)) > 20  # the output spans many quantisation steps
    # Same float ops up to the last rounding: at most one quantisation step (0.01) apart, and nearly all equal.
    assert np.abs(got - want).max() <= 0.01 + 1e-6 and np.mean(np.isclose(got, want, atol=1e-6)) > 0.98
