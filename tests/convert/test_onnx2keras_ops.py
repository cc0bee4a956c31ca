"""HardSigmoid and HardSwish for onnx2keras (convert/onnx2keras_ops.py): PaddleOCR's and PP-LCNet's activations,
built from Keras' own layers, so the .keras file runs on JAX in safe mode and agrees with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec


def hard_activations_model(path):
    """Conv -> HardSigmoid (Paddle's alpha 1/6) -> Mul -> HardSwish -> HardSigmoid (ONNX defaults): an SE-like block."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 1, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSigmoid", ["c"], ["g"], alpha=0.1666667, beta=0.5),
             helper.make_node("Mul", ["c", "g"], ["m"]),
             helper.make_node("HardSwish", ["m"], ["s"]),
             helper.make_node("HardSigmoid", ["s"], ["y"])]
    graph = helper.make_graph(nodes, "hard", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 8, 8])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.slow
def test_hard_sigmoid_and_hard_swish_reach_keras_on_jax(tmp_path):
    """Before: "onnx2keras has no converter for ONNX op(s) HardSigmoid, HardSwish". After: agrees with ONNX Runtime."""
    from test_convert_edges import _env_ready, _keras_on_jax, _ort

    _env_ready("onnx2tf")
    pytest.importorskip("jax")
    pytest.importorskip("keras")
    from edgepick.convert.chain import convert_along

    hard_activations_model(tmp_path / "hard.onnx")
    signature = Signature([TensorSpec("input", [1, 1, 8, 8], "float32", batch_dynamic=True)])
    final, _ = convert_along(["onnx2keras"], Artifact("onnx", str(tmp_path / "hard.onnx")), signature, tmp_path / "cache")
    x = (3 * np.random.default_rng(1).standard_normal((4, 1, 8, 8))).astype(np.float32)  # across both clip edges
    reference = _ort(tmp_path / "hard.onnx", x)
    assert (reference == 1.0).any() and (reference < 1.0).any()  # the upper clip is exercised
    np.testing.assert_allclose(_keras_on_jax(final.path, x), reference, rtol=1e-5, atol=1e-6)
