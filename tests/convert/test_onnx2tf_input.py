"""onnx2tf on graphs as other exporters write them (convert/onnx2tf_input.py): a batch written as dim_value -1 and
symbolic H x W (Paddle2ONNX), node names TensorFlow refuses ("Softmax@0"), non-image 3-D inputs that must keep their
shape. The unit tests need only onnx; the conversions run onnx2tf in its env and compare with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgepick.convert import onnx2tf_input  # noqa: E402
from edgepick.convert.onnx_to_tflite import root_error  # noqa: E402


def _dim_value_minus_one(graph_input):
    graph_input.type.tensor_type.shape.dim[0].Clear()
    graph_input.type.tensor_type.shape.dim[0].dim_value = -1


def paddle_like_classifier(path):
    """x [-1, 3, H, W] -> Conv -> GlobalAveragePool -> Flatten -> MatMul -> Softmax, nodes named like Paddle2ONNX's."""
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "conv2d_0.w_0"),
               numpy_helper.from_array(rng.standard_normal((4, 2)).astype(np.float32), "fc_0.w_0")]
    nodes = [helper.make_node("Conv", ["x", "conv2d_0.w_0"], ["c"], name="Conv@0", pads=[1, 1, 1, 1]),
             helper.make_node("GlobalAveragePool", ["c"], ["p"], name="GlobalAveragePool@0"),
             helper.make_node("Flatten", ["p"], ["f"], name="Flatten@0"),
             helper.make_node("MatMul", ["f", "fc_0.w_0"], ["m"], name="MatMul@0"),
             helper.make_node("Softmax", ["m"], ["y"], name="Softmax@0", axis=1)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])
    _dim_value_minus_one(x)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    model = helper.make_model(helper.make_graph(nodes, "paddle_like", [x], [y], weights),
                              opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.save(model, str(path))
    return Signature([TensorSpec("x", [1, 3, 16, 24], "float32", batch_dynamic=True)])


def sequence_model(path):
    """x [1, 4, 8] (batch, steps, features) -> MatMul [8, 5] -> Add: a sequence, not a channels-first signal."""
    rng = np.random.default_rng(1)
    weights = [numpy_helper.from_array(rng.standard_normal((8, 5)).astype(np.float32), "w"),
               numpy_helper.from_array(rng.standard_normal((5,)).astype(np.float32), "b")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"), helper.make_node("Add", ["m", "b"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "seq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 5])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return Signature([TensorSpec("x", [1, 4, 8], "float32")])


def dequantized_conv_model(path):
    """x [1, 2, 8, 8] -> Conv whose weight is DequantizeLinear(int8 [4, 2, 3, 3], per-channel scales, axis 0): how
    tf2onnx writes a dynamic-range TFLite's int8 weights."""
    rng = np.random.default_rng(6)
    inits = [numpy_helper.from_array(rng.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8), "wq"),
             numpy_helper.from_array(np.array([0.01, 0.02, 0.005, 0.03], np.float32), "scale"),
             numpy_helper.from_array(np.zeros(4, np.int8), "zero")]
    nodes = [helper.make_node("DequantizeLinear", ["wq", "scale", "zero"], ["w"], axis=0, name="dq"),
             helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], name="conv")]
    graph = helper.make_graph(nodes, "dq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return Signature([TensorSpec("x", [1, 2, 8, 8], "float32")])


def test_prepare_fixes_image_shapes_renames_nodes_and_picks_layout_flags(tmp_path):
    signature = paddle_like_classifier(tmp_path / "m.onnx")
    path, flags, record = onnx2tf_input.prepare(Artifact("onnx", str(tmp_path / "m.onnx")), signature,
                                                tmp_path / "copy", static_batch=None)
    model = onnx.load(path)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3, 16, 24]
    assert all("@" not in n.name for n in model.graph.node) and record["nodes_renamed"] == 5
    assert flags == ["-k", "x"]
    _, _, record1 = onnx2tf_input.prepare(Artifact("onnx", str(tmp_path / "m.onnx")), signature, tmp_path / "c1", 1)
    assert record1["input_shapes"] == {"x": [1, 3, 16, 24]}
    # the user's file is untouched
    assert onnx.load(str(tmp_path / "m.onnx")).graph.node[0].name == "Conv@0"


def test_layout_flags_keep_non_image_inputs_as_they_are(tmp_path):
    sequence_model(tmp_path / "s.onnx")
    model = onnx.load(str(tmp_path / "s.onnx"))
    assert onnx2tf_input.layout_flags(model, {"x": 3}) == ["-kat", "x"]
    conv1d = helper.make_node("Conv", ["sig", "w"], ["o"])
    model.graph.node.append(conv1d)
    assert onnx2tf_input.layout_flags(model, {"x": 3, "sig": 3, "ids": 2, "sr": 0}) == ["-k", "sig", "-kat", "x"]


def test_fix_shapes_keeps_token_lengths_symbolic(tmp_path):
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])
    out = helper.make_tensor_value_info("o", TensorProto.INT64, ["batch", "seq"])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["ids"], ["o"])], "g", [ids], [out]))
    shapes = onnx2tf_input.fix_shapes(model, Signature([TensorSpec("ids", [1, 40], "int64", batch_dynamic=True)]), 1)
    assert shapes == {}
    assert [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim] == [1, "seq"]


def test_root_error_is_the_exception_not_the_generic_advice():
    log = ("\x1b[31mERROR:\x1b[0m The trace log is below.\nTraceback (most recent call last):\n  File \"x.py\", line 1\n"
           "ValueError: Exception encountered when calling layer \"tf.math.add_1\" (type TFOpLambda).\n\n"
           "Dimensions must be equal, but are 128 and 384\n"
           "\x1b[31mERROR:\x1b[0m If the input OP of ONNX before conversion is NHWC or an irregular channel arrangement "
           "other than NCHW, use the -kt or -kat option.\n")
    assert root_error(log) == ('ValueError: Exception encountered when calling layer "tf.math.add_1" (type TFOpLambda). '
                               "Dimensions must be equal, but are 128 and 384")


def _onnx2tf_ready():
    from edgepick.core import envs

    if not envs.is_ready("onnx2tf"):
        pytest.skip("the onnx2tf env is absent: edgepick env create onnx2tf")


def _ort(path, feeds):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def _tflite(path, x):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = litert.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.slow
@pytest.mark.parametrize("build", [paddle_like_classifier, sequence_model, dequantized_conv_model])
def test_onnx2tf_converts_exported_graphs_that_it_refused(build, tmp_path):
    """The Paddle-like classifier failed before ("Dimension -1 must be >= 0", then "'Softmax@0' is not a valid scope
    name"); the sequence model (now kept with -kat instead of -k) converted before too and must keep doing so. After:
    each .tflite agrees with ONNX Runtime."""
    _onnx2tf_ready()
    from edgepick.convert.chain import convert_along

    signature = build(tmp_path / "m.onnx")
    final, _ = convert_along(["onnx2tf"], Artifact("onnx", str(tmp_path / "m.onnx")), signature, tmp_path / "cache")
    x = np.random.default_rng(2).standard_normal(signature.inputs[0].shape).astype(np.float32)
    got = _tflite(final.path, x)
    got = got.transpose(0, 3, 1, 2) if got.ndim == 4 else got  # the .tflite gives feature maps channels-last
    np.testing.assert_allclose(got, _ort(tmp_path / "m.onnx", {"x": x}), rtol=1e-4, atol=1e-5)


def conv_transpose_model(path):
    """x [N, 2, 8, 8] -> ConvTranspose stride 2 (a DBNet-style upsampling head), dynamic batch."""
    rng = np.random.default_rng(4)
    weight = numpy_helper.from_array(rng.standard_normal((2, 3, 2, 2)).astype(np.float32), "w")
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], name="up")
    graph = helper.make_graph([node], "up", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 16, 16])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return Signature([TensorSpec("x", [1, 2, 8, 8], "float32", batch_dynamic=True)])


@pytest.mark.slow
def test_savedmodel_falls_back_to_a_static_batch_where_onnx2tf_needs_one(tmp_path):
    """onnx2tf cannot build a ConvTranspose with a symbolic batch ("Expected int32 ... got ['N', 16, 16, 3]", here on
    the onnxslim-simplified graph, the chain's retry): the SavedModel edge tries once more with batch 1 and says so;
    the result agrees with ONNX Runtime."""
    _onnx2tf_ready()
    pytest.importorskip("tensorflow")
    from edgepick.convert.chain import convert_along
    from edgepick.runtimes.tensorflow import TfSession, tf_callable

    signature = conv_transpose_model(tmp_path / "m.onnx")
    final, _ = convert_along(["onnx2tf-savedmodel"], Artifact("onnx", str(tmp_path / "m.onnx")), signature,
                             tmp_path / "cache")
    assert final.meta["static_batch"] == 1
    session = TfSession(*tf_callable(final))
    x = np.random.default_rng(5).standard_normal((1, 2, 8, 8)).astype(np.float32)
    got = session.to_numpy(session.run(session.prepare({"x": x})))[0]
    np.testing.assert_allclose(got, _ort(tmp_path / "m.onnx", {"x": x}), rtol=1e-4, atol=1e-5)


def test_constant_dequantize_is_folded_to_the_values_onnxruntime_computes(tmp_path):
    dequantized_conv_model(tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert onnx2tf_input.fold_constant_dequantize(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Conv"]
    onnx.save(model, str(tmp_path / "folded.onnx"))
    x = np.random.default_rng(7).standard_normal((1, 2, 8, 8)).astype(np.float32)
    # the same values up to the order ONNX Runtime's kernels sum in
    np.testing.assert_allclose(_ort(tmp_path / "folded.onnx", {"x": x}), _ort(tmp_path / "m.onnx", {"x": x}),
                               rtol=1e-5, atol=1e-6)
    weight = next(numpy_helper.to_array(t) for t in model.graph.initializer if t.name == "w")
    original = onnx.load(str(tmp_path / "m.onnx"))
    inits = {t.name: numpy_helper.to_array(t) for t in original.graph.initializer}
    expected = (inits["wq"].astype(np.float32) - inits["zero"].reshape(4, 1, 1, 1)) * inits["scale"].reshape(4, 1, 1, 1)
    np.testing.assert_array_equal(weight, expected)
