"""Integer-input graphs folded to static shapes before onnx2tf at a fixed batch (convert/onnx2tf_integer.py). Before:
a tiny encoder over int32 token ids (position ids from Shape -> Expand, heads by Reshape) converted to a .tflite that
computed something else (max abs error 1.06 against ONNX Runtime), and the legacy exporter's version failed ("Dimensions
must be equal, but are 16 and 8"). After: the .tflite agrees with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.convert.onnx2tf_integer import fold_for_integer_inputs
from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxslim")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

IDS = Signature([TensorSpec("ids", [1, 16], "int32", batch_dynamic=True)])


def _graph(extra_output: bool = False):
    """ids [N, 16] -> Gather from a table -> Reshape to Shape-computed [N, -1]; with extra_output, the length read
    from Shape(ids) is an output too (an output made of shapes alone)."""
    inits = [numpy_helper.from_array(np.random.default_rng(0).standard_normal((100, 4)).astype(np.float32), "table"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"), numpy_helper.from_array(np.array([1], np.int64), "one"),
             numpy_helper.from_array(np.array([-1], np.int64), "rest")]
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], axis=0), helper.make_node("Shape", ["ids"], ["s"]),
             helper.make_node("Slice", ["s", "zero", "one"], ["n"]), helper.make_node("Concat", ["n", "rest"], ["t"], axis=0),
             helper.make_node("Reshape", ["e", "t"], ["y"])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 64])]
    if extra_output:
        nodes.append(helper.make_node("Slice", ["s", "one", "rest"], ["length"]))
        outputs.append(helper.make_tensor_value_info("length", TensorProto.INT64, [1]))
    graph = helper.make_graph(nodes, "ids", [helper.make_tensor_value_info("ids", TensorProto.INT32, ["N", 16])], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_integer_inputs_fold_the_shape_arithmetic_at_a_fixed_batch():
    folded = fold_for_integer_inputs(_graph(), IDS, 1)
    assert folded is not None and "Shape" not in {n.op_type for n in folded.graph.node}
    assert [d.dim_value for d in folded.graph.input[0].type.tensor_type.shape.dim] == [1, 16]
    assert fold_for_integer_inputs(_graph(), IDS, None) is None  # a dynamic batch is kept: nothing folded
    assert fold_for_integer_inputs(_graph(extra_output=True), IDS, 1) is None  # an output would become a constant
    floats = Signature([TensorSpec("ids", [1, 16], "float32", batch_dynamic=True)])
    assert fold_for_integer_inputs(_graph(), floats, 1) is None


def tiny_encoder(path):
    """Token ids [N, 16] int32 -> token + position embeddings (positions from arange(L).expand(B, L)) -> 2-head
    self-attention -> mean -> Linear, exported by torch's dynamo exporter with a dynamic batch."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb, self.pos, self.fc = torch.nn.Embedding(100, 8), torch.nn.Embedding(16, 8), torch.nn.Linear(8, 5)

        def forward(self, ids):
            batch, length = ids.shape
            x = self.emb(ids) + self.pos(torch.arange(length).unsqueeze(0).expand(batch, length))
            q = x.view(batch, length, 2, 4).transpose(1, 2)
            x = ((q @ q.transpose(-1, -2)).softmax(-1) @ q).transpose(1, 2).reshape(batch, length, 8)
            return self.fc(x.mean(1))

    torch.manual_seed(0)
    ids = torch.randint(1, 100, (2, 16), dtype=torch.int32)
    torch.onnx.export(Encoder().eval(), (ids,), str(path), input_names=["ids"], dynamo=True,
                      dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=64)},))


@pytest.mark.slow
def test_onnx2tf_converts_an_int32_encoder_that_agrees(tmp_path):
    from edgepick.core import envs

    if not envs.is_ready("onnx2tf"):
        pytest.skip("the onnx2tf env is absent: edgepick env create onnx2tf")
    ort = pytest.importorskip("onnxruntime")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    from edgepick.convert.chain import convert_along

    tiny_encoder(tmp_path / "encoder.onnx")
    final, _ = convert_along(["onnx2tf"], Artifact("onnx", str(tmp_path / "encoder.onnx")), IDS, tmp_path / "cache")
    assert final.meta["onnx2tf_input"]["shapes_folded"]
    ids = np.random.default_rng(1).integers(0, 100, (1, 16)).astype(np.int32)
    interpreter = litert.Interpreter(model_path=final.path)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], ids)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    want = ort.InferenceSession(str(tmp_path / "encoder.onnx"), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
