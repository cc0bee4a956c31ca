"""onnx2keras converters made of keras.ops (convert/onnx2keras_math.py, onnx2keras_shape.py): the ops onnx2keras
0.0.25 turned into TensorFlow Lambda layers (an elementwise op with a constant operand, GlobalAveragePool, Softmax,
Slice, Reshape, ...) or had no converter for (Gelu, LayerNormalization, Erf, Where, IsNaN, Range, Not, And,
GreaterOrEqual, GatherElements: a transformer export at opset 20). Each graph converts to a .keras file that loads on
JAX in safe mode and gives ONNX Runtime's outputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.inputs.signature import Signature, TensorSpec

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx2keras_check import keras_and_onnxruntime  # noqa: E402

RNG = np.random.default_rng(0)


def _init(name, value):
    return numpy_helper.from_array(np.asarray(value), name)


def _save(path, nodes, inputs, outputs, inits, opset):
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
                                                   for o in outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def constant_operands_model(path):
    """A CNN head at opset 11: elementwise ops with constant operands either side, GlobalAveragePool, reductions
    without a keepdims attribute (onnx2keras: KeyError 'keepdims'), and Softmax(axis=1) on a 4-D tensor, which
    before opset 13 is a softmax over all of C*H*W, not over C alone."""
    f32 = np.float32
    inits = [_init("w", RNG.standard_normal((4, 3, 3, 3)).astype(f32)), _init("bias", RNG.standard_normal((1, 4, 1, 1)).astype(f32)),
             _init("two", f32(2.0)), _init("three", np.full((1, 4, 1, 1), 3.0, f32)), _init("one", f32(1.0))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["bias", "c"], ["a"]), helper.make_node("Mul", ["a", "two"], ["m"]),
             helper.make_node("Div", ["m", "three"], ["d"]), helper.make_node("Sub", ["one", "d"], ["s"]),
             helper.make_node("Pow", ["s", "two"], ["p"]), helper.make_node("GlobalAveragePool", ["p"], ["gap"]),
             helper.make_node("ReduceMean", ["s"], ["mean"], axes=[2, 3]),
             helper.make_node("ReduceSum", ["s"], ["sum"], axes=[1], keepdims=0),
             helper.make_node("Softmax", ["s"], ["soft"], axis=1)]
    _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
          ["gap", "mean", "sum", "soft"], inits, 11)
    return Signature([TensorSpec("x", [1, 3, 6, 6], "float32")]), [RNG.standard_normal((1, 3, 6, 6)).astype(f32)]


def transformer_model(path):
    """One attention block at opset 20 on int32 token ids: an embedding Gather, LayerNormalization, MatMul with a
    weight (Dense) and between two tensors, Gelu, a causal and padding mask (Range, GreaterOrEqual, Not, Equal, And,
    Where), IsNaN, Softmax, heads split by Reshape/Transpose, Slice, Concat, Split, Erf, GatherElements and GatherND
    (minilm's pooling: constant row indices into a tensor)."""
    f32, s, d = np.float32, 6, 8
    inits = [_init("table", RNG.standard_normal((12, d)).astype(f32)), _init("gamma", RNG.uniform(0.5, 2, d).astype(f32)),
             _init("beta", RNG.standard_normal(d).astype(f32)), _init("wq", RNG.standard_normal((d, d)).astype(f32)),
             _init("zero_i", np.int64(0)), _init("n", np.int64(s)), _init("one_i", np.int64(1)),
             _init("ax0", np.array([0], np.int64)), _init("ax1", np.array([1], np.int64)),
             _init("neg", f32(-1e4)), _init("zero_f", f32(0)), _init("heads", np.array([1, s, 2, 4], np.int64)),
             _init("starts", np.array([1], np.int64)), _init("ends", np.array([-1], np.int64)),
             _init("axes2", np.array([2], np.int64)), _init("pick", RNG.integers(-d, d, (1, s, 3)).astype(np.int64)),
             _init("rows_nd", np.array([[0, 5], [0, -4]], np.int64))]
    node = helper.make_node
    nodes = [node("Cast", ["ids"], ["ids64"], to=TensorProto.INT64), node("Gather", ["table", "ids64"], ["emb"]),
             node("LayerNormalization", ["emb", "gamma", "beta"], ["ln"], epsilon=1e-5),
             node("MatMul", ["ln", "wq"], ["q"]), node("Gelu", ["q"], ["g"]),
             node("Transpose", ["g"], ["gt"], perm=[0, 2, 1]), node("MatMul", ["g", "gt"], ["scores"]),
             node("Range", ["zero_i", "n", "one_i"], ["r"]), node("Unsqueeze", ["r", "ax1"], ["rows"]),
             node("Unsqueeze", ["r", "ax0"], ["cols"]), node("GreaterOrEqual", ["rows", "cols"], ["causal"]),
             node("Equal", ["ids64", "zero_i"], ["pad"]), node("Not", ["pad"], ["real"]),
             node("Unsqueeze", ["real", "ax1"], ["real3"]), node("And", ["causal", "real3"], ["keep"]),
             node("Where", ["keep", "scores", "neg"], ["masked"]), node("IsNaN", ["masked"], ["nan"]),
             node("Where", ["nan", "zero_f", "masked"], ["clean"]), node("Softmax", ["clean"], ["attn"]),
             node("MatMul", ["attn", "g"], ["ctx"]), node("Reshape", ["ctx", "heads"], ["split_heads"]),
             node("Transpose", ["split_heads"], ["bh"], perm=[0, 2, 1, 3]),
             node("Slice", ["bh", "starts", "ends", "axes2"], ["mid"]), node("Split", ["ctx"], ["h1", "h2"], axis=2,
                                                                              num_outputs=2),
             node("Concat", ["h2", "h1"], ["swapped"], axis=2), node("Erf", ["swapped"], ["erf"]),
             node("GatherElements", ["ctx", "pick"], ["picked"], axis=2),
             node("GatherND", ["ctx", "rows_nd"], ["rows_of"])]
    _save(path, nodes, [helper.make_tensor_value_info("ids", TensorProto.INT32, [1, s])],
          ["mid", "erf", "picked", "attn", "rows_of"], inits, 20)
    ids = np.array([[3, 7, 11, 5, 0, 0]], np.int32)  # two padding tokens: the mask's Not/And take both branches
    return Signature([TensorSpec("ids", [1, s], "int32", high=12)]), [ids]


def attributes_model(path):
    """Opset 9, where Slice, Pad, Split, Clip, Unsqueeze and Squeeze take their arguments as attributes (lists and
    floats, not constant inputs), and Upsample (nearest, linear: asymmetric coordinates) its scales as an input."""
    node = helper.make_node
    nodes = [node("Slice", ["x"], ["s"], starts=[1, -5], ends=[100, -1], axes=[2, 3]),
             node("Pad", ["s"], ["p"], pads=[0, 0, 1, 2, 0, 0, 2, 1], mode="reflect"),
             node("Split", ["p"], ["a", "b"], axis=1, split=[1, 2]),
             node("Clip", ["b"], ["c"], min=-0.5, max=0.75),
             node("Unsqueeze", ["a"], ["u"], axes=[0]), node("Squeeze", ["u"], ["q"], axes=[0]),
             node("Upsample", ["q", "scales"], ["up"], mode="nearest"),
             node("Upsample", ["q", "scales"], ["lin"], mode="linear")]
    inits = [_init("scales", np.array([1, 1, 2, 3], np.float32))]
    _save(path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 7, 8])], ["c", "up", "lin"], inits, 9)
    return Signature([TensorSpec("x", [1, 3, 7, 8], "float32")]), [RNG.standard_normal((1, 3, 7, 8)).astype(np.float32)]


@pytest.mark.slow
@pytest.mark.parametrize("build", [constant_operands_model, transformer_model, attributes_model],
                         ids=["cnn_constants", "transformer", "opset9_attributes"])
def test_keras_ops_converters_reach_keras_on_jax(tmp_path, build):
    """Before: Lambda layers ("became Lambda layers running TensorFlow code", KeyError 'keepdims') and "no converter
    for ONNX op(s) Gelu, LayerNormalization, ...". After: no Lambda, every output as ONNX Runtime gives it."""
    path = tmp_path / "model.onnx"
    signature, xs = build(path)
    got, want = keras_and_onnxruntime(path, signature, *xs)
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
