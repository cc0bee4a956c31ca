"""MaxPool / AveragePool for onnx2keras (convert/onnx2keras_pool.py): onnx2keras 0.0.25 padded pools with zeros and
read pads as symmetric, so fer-emotion-int8's MaxPool (pads [0, 0, 1, 1], from TFLite's SAME) disagreed by 4.0 on
negative activations. Each pool below reaches Keras on JAX and gives ONNX Runtime's output."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.inputs.signature import Signature, TensorSpec

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx2keras_check import keras_and_onnxruntime  # noqa: E402
from tests.onnx_graphs import save_checked  # noqa: E402

POOLS = [("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1]}),
         ("MaxPool", {"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
         ("MaxPool", {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER", "strides": [2, 2]}),
         ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 1]}),
         ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1,
                          "ceil_mode": 1}),
         ("AveragePool", {"kernel_shape": [3, 2], "strides": [3, 2]})]


def pool_model(path):
    nodes = [helper.make_node(op, ["x"], [f"y{i}"], **attributes) for i, (op, attributes) in enumerate(POOLS)]
    outputs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, ["n", "c", "h", "w"]) for i in range(len(POOLS))]
    graph = helper.make_graph(nodes, "pools", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 9])],
                              outputs)
    save_checked(graph, path, ir_version=8)


@pytest.mark.slow
def test_pools_with_asymmetric_pads_and_ceil_mode_reach_keras_on_jax(tmp_path):
    path = tmp_path / "pools.onnx"
    pool_model(path)
    x = (np.random.default_rng(0).standard_normal((1, 2, 8, 9)) - 2.0).astype(np.float32)  # mostly negative
    got, want = keras_and_onnxruntime(path, Signature([TensorSpec("x", [1, 2, 8, 9], "float32")]), x)
    for pool, g, w in zip(POOLS, got, want):
        assert g.shape == w.shape, pool
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=str(pool))
