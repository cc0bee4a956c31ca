"""OpenCV DNN on a transformer-style attention mask: a BOOL constant expanded to the batch, Where, and an IsNaN guard.

The graph is what PyTorch's dynamo exporter writes for HF attention (a BOOL initializer, Expand to Shape(x), Where,
Softmax, Where(IsNaN(p), 0, p)) in miniature. OpenCV refuses it as given; the runtime prepares it (static shapes,
folded, BOOL constants as int32 + Cast, IsNaN as Not(Equal)) and must then compute what ONNX Runtime does.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.core import errors
from edgepick.core.artifact import Artifact

cv2 = pytest.importorskip("cv2")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxslim")


def _masked_softmax(path, opset=18):
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array([[True, False, True, True]]), "mask"),
             numpy_helper.from_array(np.array(-np.inf, np.float32), "fill"),
             numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Expand", ["mask", "shape"], ["mask_b"]),
             helper.make_node("Where", ["mask_b", "x", "fill"], ["masked"]),
             helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
             helper.make_node("IsNaN", ["p"], ["nan"]),
             helper.make_node("Where", ["nan", "zero", "p"], ["y"])]
    graph = helper.make_graph(nodes, "attention_mask", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), str(path))
    return path


def _reference(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_opencv_refuses_the_mask_graph_as_given(tmp_path):
    """The preparation is needed: without it OpenCV cannot load the graph (a BOOL tensor, a Shape of a dynamic dim)."""
    with pytest.raises(cv2.error):
        cv2.dnn.readNetFromONNX(str(_masked_softmax(tmp_path / "m.onnx")))


def test_bool_constants_cast_compute_the_same_on_onnxruntime_and_opencv(tmp_path):
    """The rewrite alone, on a static graph: ONNX Runtime gives bit-identical outputs, and OpenCV loads it and agrees
    (an int32 source for the Cast: from uint8 OpenCV 4.14's Where reads every element as True)."""
    from onnx import numpy_helper

    from edgepick.runtimes.opencv_input import bool_constants_as_casts, isnan_as_not_equal

    path = _masked_softmax(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 2
    model.graph.node[0].CopyFrom(onnx.helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(
        np.array([2, 4], np.int64))))
    onnx.save(model, str(tmp_path / "static.onnx"))
    assert bool_constants_as_casts(model) == 1 and isnan_as_not_equal(model) == 1
    assert not [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.BOOL]
    onnx.save(model, str(tmp_path / "rewritten.onnx"))
    x = np.array([[1, 2, 3, 4], [-1, 0, 5, 2]], np.float32)
    want = _reference(tmp_path / "static.onnx", x)
    np.testing.assert_array_equal(_reference(tmp_path / "rewritten.onnx", x), want)
    net = cv2.dnn.readNetFromONNX(str(tmp_path / "rewritten.onnx"))
    net.setInput(x)
    np.testing.assert_allclose(net.forward(), want, rtol=1e-6, atol=1e-7)


def test_opencv_runtime_prepares_the_graph_and_agrees_with_onnxruntime(tmp_path):
    from edgepick.runtimes.opencv_dnn import OpenCvDnn

    path = _masked_softmax(tmp_path / "m.onnx")
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    artifact = Artifact("onnx", str(path), {"input_names": ["x"], "measured_shapes": {"x": [3, 4]}})
    session = OpenCvDnn().load(artifact, 1)
    got = session.to_numpy(session.run(session.prepare({"x": x})))[0]
    np.testing.assert_allclose(got, _reference(path, x), rtol=1e-6, atol=1e-7)
    prepared = session.details["prepared_graph"]
    assert prepared["input_shapes"] == {"x": [3, 4]} and prepared["isnan_rewritten"] == 1
    assert "same outputs" in prepared["check"]


def test_a_preparation_that_changes_the_outputs_is_refused(tmp_path, monkeypatch):
    """The check is real: a rewrite that computed something else (here IsNaN as Equal(x, x), its negation: every
    softmax output replaced by 0) is named, and nothing is loaded from it."""
    from onnx import helper

    from edgepick.runtimes import opencv_input
    from edgepick.runtimes.opencv_dnn import OpenCvDnn

    def negated(model):
        nodes = [helper.make_node("Equal", [n.input[0], n.input[0]], list(n.output)) if n.op_type == "IsNaN" else n
                 for n in model.graph.node]
        del model.graph.node[:]
        model.graph.node.extend(nodes)
        return 1

    monkeypatch.setattr(opencv_input, "isnan_as_not_equal", negated)
    artifact = Artifact("onnx", str(_masked_softmax(tmp_path / "m.onnx")), {"measured_shapes": {"x": [2, 4]}})
    with pytest.raises(errors.CandidateFailure) as failure:
        OpenCvDnn().load(artifact, 1)
    # OpenCV's refusal stays the row's class (the sweep then tries its own checked, simplified graph); the
    # preparation is named as what changed the model
    assert failure.value.reason_class == errors.LOAD_ERROR and "changed the model" in failure.value.message


def test_opencv_outputs_come_back_in_the_graph_s_order(tmp_path):
    """OpenCV lists output layers in node order: graph outputs [b, a] computed a first came back as [a, b] (the face
    detector's regressors and classificators swapped). The session returns them as the graph orders them."""
    from onnx import TensorProto, helper

    from edgepick.runtimes.opencv_dnn import OpenCvDnn

    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["x"], ["b"])]
    graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1, 4]),
                               helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert list(cv2.dnn.readNetFromONNX(str(path)).getUnconnectedOutLayersNames()) == ["a", "b"]  # OpenCV's order
    x = np.array([[-1.0, 0.0, 0.5, 2.0]], np.float32)
    session = OpenCvDnn().load(Artifact("onnx", str(path), {"input_names": ["x"]}), 1)
    got = session.to_numpy(session.run(session.prepare({"x": x})))
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
