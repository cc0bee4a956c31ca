"""Conv cases onnx2keras 0.0.25 wrapped in TensorFlow Lambdas or got wrong (convert/onnx2keras_conv.py): a 1-D
convolution (its Lambda padded 'SAME' whatever the pads), a grouped 2-D convolution, a depthwise one with two filters
per channel (onnx2keras: one), auto_pad SAME_UPPER with a stride. Each reaches Keras on JAX and agrees with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.inputs.signature import Signature, TensorSpec

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx2keras_check import keras_and_onnxruntime  # noqa: E402


def conv_model(path):
    """x1 [1,4,20] -> Conv1D (pads 2/1, stride 2, group 2) -> Transpose [0,2,1] (moves no batch);
    x2 [1,4,9,9] -> grouped Conv2D (group 2, dilations 2x1) -> depthwise x2 (group 4, 8 filters) -> Conv2D auto_pad SAME_UPPER s2."""
    rng = np.random.default_rng(0)

    def weight(name, shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)
    inits = [weight("w1", (6, 2, 3)), weight("b1", (6,)), weight("w2", (4, 2, 3, 3)), weight("w3", (8, 1, 3, 3)),
             weight("b3", (8,)), weight("w4", (3, 8, 3, 3))]
    node = helper.make_node
    nodes = [node("Conv", ["x1", "w1", "b1"], ["c1"], pads=[2, 1], strides=[2], group=2),
             node("Transpose", ["c1"], ["t1"], perm=[0, 2, 1]),
             node("Conv", ["x2", "w2"], ["c2"], pads=[2, 0, 2, 2], dilations=[2, 1], group=2),
             node("Conv", ["c2", "w3", "b3"], ["c3"], pads=[1, 1, 1, 1], group=4),
             node("Conv", ["c3", "w4"], ["c4"], auto_pad="SAME_UPPER", strides=[2, 2])]
    inputs = [helper.make_tensor_value_info("x1", TensorProto.FLOAT, [1, 4, 20]),
              helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 4, 9, 9])]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("t1", "c4")]
    model = helper.make_model(helper.make_graph(nodes, "conv", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(model, str(path))


@pytest.mark.slow
def test_one_d_grouped_and_multiplier_convs_reach_keras_on_jax(tmp_path):
    path = tmp_path / "conv.onnx"
    conv_model(path)
    signature = Signature([TensorSpec("x1", [1, 4, 20], "float32"), TensorSpec("x2", [1, 4, 9, 9], "float32")])
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((1, 4, 20)).astype(np.float32), rng.standard_normal((1, 4, 9, 9)).astype(np.float32)]
    got, want = keras_and_onnxruntime(path, signature, *xs)
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)
