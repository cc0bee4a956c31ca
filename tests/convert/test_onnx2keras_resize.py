"""Resize for onnx2keras (convert/onnx2keras_resize.py): onnx2keras 0.0.25 refused linear mode ("Cannot convert
non-nearest resize"), which TFLite detectors converted by tf2onnx use (half_pixel bilinear, palm-detection-lite), and
its UpSampling2D only repeats pixels. Each mode below converts to a .keras file that runs on JAX in safe mode and
gives ONNX Runtime's output."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.inputs.signature import Signature, TensorSpec

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx2keras_check import keras_and_onnxruntime  # noqa: E402
from tests.onnx_graphs import save_checked  # noqa: E402

CASES = {  # name: (attributes, scales or None, sizes or None): up, down, non-integer factors; each rounding rule
    "linear_half_pixel_x2": ({"mode": "linear", "coordinate_transformation_mode": "half_pixel"}, [1, 1, 2, 2], None),
    "linear_align_corners_down": ({"mode": "linear", "coordinate_transformation_mode": "align_corners"}, None,
                                  [1, 2, 3, 4]),
    "linear_pytorch_half_pixel": ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, None,
                                  [1, 2, 7, 1]),
    "nearest_asymmetric_floor": ({"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                  "nearest_mode": "floor"}, None, [1, 2, 9, 11]),
    "nearest_half_pixel_round": ({"mode": "nearest"}, [1, 1, 1.5, 0.5], None),
}


def resize_model(path):
    """One Resize per case, all of the same input, each an output of the graph."""
    nodes, inits = [], []
    for i, (attributes, scales, sizes) in enumerate(CASES.values()):
        inits += [numpy_helper.from_array(np.array(v, dtype), f"{n}{i}") for n, v, dtype in
                  (("scales", scales, np.float32), ("sizes", sizes, np.int64)) if v]
        inputs = ["x", "", f"scales{i}" if scales else "", f"sizes{i}" if sizes else ""]
        nodes.append(helper.make_node("Resize", inputs, [f"y{i}"], **attributes))
    outputs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, ["n", "c", "h", "w"]) for i in range(len(CASES))]
    graph = helper.make_graph(nodes, "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 8])],
                              outputs, inits)
    save_checked(graph, path, ir_version=8)


@pytest.mark.slow
def test_resize_modes_reach_keras_on_jax(tmp_path):
    path = tmp_path / "resize.onnx"
    resize_model(path)
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 8)).astype(np.float32)
    got, want = keras_and_onnxruntime(path, Signature([TensorSpec("x", [1, 2, 6, 8], "float32")]), x)
    for case, g, w in zip(CASES, got, want):
        assert g.shape == w.shape, case
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=case)
