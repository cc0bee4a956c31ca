"""MXNet's importer on opset-13 Squeeze and Unsqueeze, whose axes are an input, on a bilinear Resize it lacked, and on PRelu
(runtimes/mxnet.py, repair_importer).
MediaPipe's hand landmark model (through tf2onnx at opset 17) ends in GlobalAveragePool -> Squeeze(axes input): the
importer passed the axes' Symbol on as the attribute ("Invalid Parameter format for axis expect Shape or None but
value='<Symbol const_axes__595>'"). Repaired, the graph imports and agrees with ONNX Runtime exactly."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from tests.mxnet_bridge import mxnet_and_onnxruntime  # noqa: E402
from tests.onnx_graphs import save_checked  # noqa: E402


def axes_model(path):
    """x [1,3,4,5] -> GlobalAveragePool [1,3,1,1] -> Squeeze(axes [2, 3]) -> Clip(0, 6) -> Unsqueeze(axes [0, 3])
    -> [1,1,3,1]... as ONNX opset 13 writes it: every axes list an int64 input."""
    ints = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("sq", [2, 3]), ("unsq", [0, 3]))]
    floats = [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("lo", 0.0), ("hi", 6.0))]
    nodes = [helper.make_node("Mul", ["x", "x"], ["x2"]),
             helper.make_node("GlobalAveragePool", ["x2"], ["pooled"]),
             helper.make_node("Squeeze", ["pooled", "sq"], ["flat"]),
             helper.make_node("Clip", ["flat", "lo", "hi"], ["clipped"]),
             helper.make_node("Unsqueeze", ["clipped", "unsq"], ["y"])]
    graph = helper.make_graph(nodes, "axes", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 3, 1])], ints + floats)
    save_checked(graph, path, ir_version=7)


def test_squeeze_and_unsqueeze_with_axes_inputs_agree_with_onnxruntime(tmp_path):
    x = (np.random.default_rng(0).standard_normal((1, 3, 4, 5)) * 3).astype(np.float32)
    got, want = mxnet_and_onnxruntime(tmp_path, axes_model, x, "axis", repair=False)  # the importer's own failure
    got, want = got[0], want[0]
    assert got.shape == want.shape == (1, 1, 3, 1)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def resize_model(path):
    """x [1,2,5,6] -> Resize (linear, half_pixel, scales [1,1,2,2], an empty roi initializer): tf2onnx's form of
    TFLite's RESIZE_BILINEAR with half-pixel centres (MediaPipe's palm detector has two), which the importer lacked."""
    inits = [numpy_helper.from_array(np.zeros((0,), np.float32), "roi"),
             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")]
    nodes = [helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="linear",
                              coordinate_transformation_mode="half_pixel", nearest_mode="floor")]
    graph = helper.make_graph(nodes, "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 10, 12])], inits)
    save_checked(graph, path, ir_version=7)


def test_bilinear_half_pixel_resize_agrees_with_onnxruntime(tmp_path):
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 6)).astype(np.float32)
    got, want = mxnet_and_onnxruntime(tmp_path, resize_model, x, "Resize not implemented", repair=False)
    got, want = got[0], want[0]
    assert got.shape == want.shape == (1, 2, 10, 12)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def prelu_model(path):
    """x [1,4,6,6] -> PRelu with slope [1,4,1,1] (one negative, one zero): tf2onnx's form of a TFLite PReLU, which
    MXNet's LeakyReLU refused ("Cannot broadcast gamma to data")."""
    inits = [numpy_helper.from_array(np.array([0.25, -0.5, 0.0, 1.5], np.float32).reshape(1, 4, 1, 1), "slope")]
    graph = helper.make_graph([helper.make_node("PRelu", ["x", "slope"], ["y"])], "prelu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], inits)
    save_checked(graph, path, ir_version=7)


def test_prelu_with_a_channel_slope_agrees_with_onnxruntime(tmp_path):
    x = np.random.default_rng(2).standard_normal((1, 4, 6, 6)).astype(np.float32)
    got, want = mxnet_and_onnxruntime(tmp_path, prelu_model, x, "Cannot broadcast gamma", repair=False)
    np.testing.assert_array_equal(got[0], want[0])  # one multiply per element: the same numbers
