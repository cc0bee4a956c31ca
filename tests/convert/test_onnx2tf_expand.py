"""Constants Expanded to a shape read from the input (convert/onnx2tf_integer.py), as Hugging Face ViT and wav2vec 2.0
exports do for the class token and the attention mask. Before: onnx2tf failed on both edges ("You are passing
KerasTensor(... dtype=tf.bool ...) ... to a TF API that does not allow registering custom dispatchers"), even with the
input's shape written in, so TensorFlow and LiteRT (through onnx2tf) got no row. After: the graph is folded at the
fixed batch, both edges convert from one onnx2tf pass, and both agree with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.convert.onnx2tf_integer import expands_a_constant_to_a_computed_shape, fold_for_integer_inputs
from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxslim")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

TOKENS = Signature([TensorSpec("x", [1, 4, 4], "float32", batch_dynamic=True)])


def vit_like():
    """Patch embeddings x [N, 4, 4] -> MatMul -> tokens; a class token Expanded to [N, 1, 4] is put first; a constant
    boolean mask Expanded to [N, 5, 4] zeroes the last token (Where). Both Expand shapes start with Shape(x)[0:1], as
    the dynamo exporter writes them. (No Conv -> Reshape -> Transpose patchifier: on such a toy one onnx2tf's .tflite
    was off by 16 from ONNX Runtime, while the folded graph matched ONNX Runtime exactly: a layout question of
    onnx2tf's, apart from the one under test; the real ViT converts right, 9e-8.)"""
    rng = np.random.default_rng(0)
    const = lambda name, value: numpy_helper.from_array(np.asarray(value), name)  # noqa: E731
    inits = [const("w", rng.standard_normal((4, 4)).astype(np.float32)),
             const("cls", rng.standard_normal((1, 1, 4)).astype(np.float32)),
             const("mask", np.array([True, True, True, True, False]).reshape(1, 5, 1)),
             const("one_four", np.array([1, 4], np.int64)),
             const("five_four", np.array([5, 4], np.int64)), const("zero", np.zeros(1, np.float32))]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["t"]),
             helper.make_node("Shape", ["x"], ["n"], start=0, end=1),
             helper.make_node("Concat", ["n", "one_four"], ["cls_shape"], axis=0),
             helper.make_node("Expand", ["cls", "cls_shape"], ["cls_n"]),
             helper.make_node("Concat", ["cls_n", "t"], ["y"], axis=1),
             helper.make_node("Concat", ["n", "five_four"], ["mask_shape"], axis=0),
             helper.make_node("Expand", ["mask", "mask_shape"], ["mask_n"]),
             helper.make_node("Where", ["mask_n", "y", "zero"], ["z"])]
    graph = helper.make_graph(nodes, "vit_like", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 4])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 5, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_a_constant_expanded_to_an_input_shape_is_folded_at_a_fixed_batch():
    model = vit_like()
    assert expands_a_constant_to_a_computed_shape(model.graph)
    folded = fold_for_integer_inputs(model, TOKENS, 1)
    assert folded is not None and not {"Expand", "Shape"} & {n.op_type for n in folded.graph.node}
    assert fold_for_integer_inputs(model, TOKENS, None) is None  # the dynamic batch is kept: nothing folded
    plain = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["z"])], "g", list(model.graph.input),
                                                list(model.graph.output)))
    assert not expands_a_constant_to_a_computed_shape(plain.graph) and fold_for_integer_inputs(plain, TOKENS, 1) is None


@pytest.mark.slow
def test_onnx2tf_converts_a_vit_like_graph_to_both_targets_that_agree(tmp_path):
    from edgepick.core import envs

    if not envs.is_ready("onnx2tf"):
        pytest.skip("the onnx2tf env is absent: edgepick env create onnx2tf")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("tensorflow")
    from test_onnx2tf_input import _tflite
    from test_onnx2tf_pass import _savedmodel_output

    from edgepick.convert.chain import convert_along

    onnx.save(vit_like(), str(tmp_path / "m.onnx"))
    source = Artifact("onnx", str(tmp_path / "m.onnx"))
    tflite, _ = convert_along(["onnx2tf"], source, TOKENS, tmp_path / "cache")
    saved, _ = convert_along(["onnx2tf-savedmodel"], source, TOKENS, tmp_path / "cache")
    assert tflite.meta["onnx2tf_input"]["shapes_folded"] and saved.meta["static_batch"] == 1  # the static retry
    assert saved.meta["onnx2tf_input"]["onnx2tf_pass"]["reused"]  # ... is the .tflite edge's pass
    x = np.random.default_rng(1).standard_normal((1, 4, 4)).astype(np.float32)
    want = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(_tflite(tflite.path, x), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_savedmodel_output(saved, x), want, rtol=1e-5, atol=1e-5)
