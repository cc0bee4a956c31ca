"""Reshape targets computed from shapes, written in as constants (convert/shape_fold.py), for TVM: an int32-input
classifier with a dynamic batch whose Reshape target passes through a Cast stopped TVM's Relax frontend ("Reshape
requires the input new shape to be Shape. However, the given one is relax.TensorType"). After: the folded graph
computes what the original does (ONNX Runtime, batch 3: not one of the batches the targets were computed at), TVM
compiles it with the batch still dynamic, and agrees."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgepick.convert.shape_fold import fold_reshape_targets  # noqa: E402
from edgepick.inputs.signature import Signature, TensorSpec  # noqa: E402

SIG = Signature([TensorSpec("ids", [1, 16], "int32", batch_dynamic=True)])


def _const(name, value):
    return numpy_helper.from_array(np.array(value, np.int64), name)


def int_classifier(target: str):
    """ids [N, 16] int32 -> Gather from an embedding [100, 4] -> Reshape to a target computed from Shape(ids):
    'cast' (through Cast to float and back), 'div' ([-1, L/2, 8]) or 'concat' ([N, -1]) -> ReduceSum over the last
    axis, keeping the rest."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((100, 4)).astype(np.float32), "table"),
             _const("zero", [0]), _const("one", 1), _const("two", 2), _const("minus_one", [-1]), _const("eight", [8]),
             _const("last", [-1])]
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], axis=0), helper.make_node("Shape", ["e"], ["s"])]
    if target == "cast":
        nodes += [helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
                  helper.make_node("Cast", ["sf"], ["t"], to=TensorProto.INT64)]
    elif target == "div":
        nodes += [helper.make_node("Gather", ["s", "one"], ["steps"], axis=0), helper.make_node("Div", ["steps", "two"], ["half"]),
                  helper.make_node("Unsqueeze", ["half", "zero"], ["half1"]),
                  helper.make_node("Concat", ["minus_one", "half1", "eight"], ["t"], axis=0)]
    else:
        nodes += [helper.make_node("Slice", ["s", "zero", "one_1"], ["n"]),
                  helper.make_node("Concat", ["n", "minus_one"], ["t"], axis=0)]
        inits.append(_const("one_1", [1]))
    nodes += [helper.make_node("Reshape", ["e", "t"], ["r"]), helper.make_node("ReduceSum", ["r", "last"], ["y"], keepdims=0)]
    shape = {"cast": ["N", 16], "div": ["N", 8], "concat": ["N"]}[target]
    graph = helper.make_graph(nodes, "ints", [helper.make_tensor_value_info("ids", TensorProto.INT32, ["N", 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def _ids(batch):
    return np.random.default_rng(batch).integers(0, 100, (batch, 16)).astype(np.int32)


def _ort(model, ids):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]


@pytest.mark.parametrize("target", ["cast", "div", "concat"])
def test_folded_targets_compute_what_the_graph_did(target):
    model = int_classifier(target)
    want = _ort(model, _ids(3))
    assert fold_reshape_targets(model, SIG) == 1
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Gather", "Reshape", "ReduceSum"]  # the arithmetic is gone
    np.testing.assert_array_equal(_ort(model, _ids(3)), want)


def test_a_target_read_from_the_data_is_left_alone():
    """Reshape(x [1, 2], [p, 3 - p]) with p = (ids[0, 0] > v) + 1, v between the first ids of the two runs' inputs:
    a target made from values, not shapes, which differs between the runs."""
    sig = Signature([TensorSpec("ids", [1, 2], "int32")])
    firsts = sorted(int(sig.example_inputs(1, seed=s)["ids"][0, 0]) for s in (1, 2))
    if firsts[0] == firsts[1]:
        pytest.skip("the two runs' inputs start with the same id")
    nodes = [helper.make_node("Slice", ["ids", "starts", "ends", "axes"], ["first"]),
             helper.make_node("Squeeze", ["first", "axis0"], ["head"]),
             helper.make_node("Greater", ["head", "v"], ["above"]), helper.make_node("Cast", ["above"], ["a"], to=6),
             helper.make_node("Add", ["a", "one"], ["p"]),
             helper.make_node("Sub", ["three", "p"], ["q"]), helper.make_node("Concat", ["p", "q"], ["pq"], axis=0),
             helper.make_node("Cast", ["pq"], ["t"], to=TensorProto.INT64), helper.make_node("Cast", ["ids"], ["f"], to=1),
             helper.make_node("Reshape", ["f", "t"], ["y"])]
    ints = {"v": firsts[0], "one": 1, "three": 3}
    inits = [_const("starts", [0, 0]), _const("ends", [1, 1]), _const("axes", [0, 1]), _const("axis0", [0])]
    inits += [numpy_helper.from_array(np.array(v, np.int32), k) for k, v in ints.items()]
    graph = helper.make_graph(nodes, "data", [helper.make_tensor_value_info("ids", TensorProto.INT32, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    assert {_ort(model, sig.example_inputs(1, seed=s)["ids"]).shape for s in (1, 2)} == {(1, 2), (2, 1)}
    assert fold_reshape_targets(model, sig) == 0


@pytest.mark.slow  # a TVM compile: tens of seconds
def test_tvm_compiles_the_int_classifier_and_agrees(tmp_path):
    tvm = pytest.importorskip("tvm")
    from tvm import relax

    from edgepick.convert.base import ConvertContext
    from edgepick.convert.onnx_to_tvm import OnnxToTvm, _compile

    model = int_classifier("cast")
    onnx.save(model, tmp_path / "ints.onnx")
    with pytest.raises(Exception, match="Reshape requires the input new shape to be Shape"):  # TVM on the graph as it is
        _compile({"onnx": str(tmp_path / "ints.onnx"), "out": str(tmp_path / "plain.so")})
    from edgepick.core.artifact import Artifact

    artifact = OnnxToTvm().convert(Artifact("onnx", str(tmp_path / "ints.onnx")), ConvertContext(SIG, tmp_path))
    assert artifact.meta["reshape_targets_folded"] == 1
    vm = relax.VirtualMachine(tvm.runtime.load_module(artifact.path), tvm.cpu())
    for batch in (1, 3):  # the batch stayed dynamic
        got = vm["main"](tvm.runtime.tensor(_ids(batch))).numpy()
        np.testing.assert_allclose(got, _ort(model, _ids(batch)), rtol=1e-6, atol=1e-6)
