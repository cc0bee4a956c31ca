"""Channel pads before pnnx, and ncnn's outputs in the model's order (MediaPipe's BlazeFace-style TFLite models).

tf2onnx writes the zero channel padding of a residual branch as an ONNX Pad on axis 1; pnnx kept it as the raw op
`Pad`, which ncnn has no layer for ("layer Pad not exists or registered": face and palm detectors, face landmarks).
Rewritten as a Concat with constant zero blocks, pnnx writes MemoryData + Concat and ncnn agrees with ONNX Runtime.
ncnn lists output blobs in .param order, so a second output computed early came back first (face and hand
landmarks "disagreed" on shapes); the session reads them as pnnx numbered them.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
ncnn = pytest.importorskip("ncnn")
pytest.importorskip("pnnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgepick.convert.base import ConvertContext  # noqa: E402
from edgepick.convert.pnnx_input import channel_pads_as_concats  # noqa: E402
from edgepick.core.artifact import Artifact  # noqa: E402
from edgepick.inputs.signature import Signature, TensorSpec  # noqa: E402

SIG = Signature([TensorSpec("x", [1, 4, 8, 8])])


def blaze_block(path):
    """x -> a score computed first (output 1), then MaxPool 2x2 + Pad channels 4 -> 7 beside a stride-2 Conv 4 -> 7,
    added (output 0)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((7, 4, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((1, 4, 8, 8)).astype(np.float32), "ws"),
             numpy_helper.from_array(np.array([0, 0, 0, 0, 0, 3, 0, 0], np.int64), "pads")]
    nodes = [helper.make_node("Conv", ["x", "ws"], ["score"], kernel_shape=[8, 8]),
             helper.make_node("MaxPool", ["x"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Pad", ["pooled", "pads"], ["padded"], mode="constant"),
             helper.make_node("Conv", ["x", "w"], ["conv"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Add", ["conv", "padded"], ["y"])]
    graph = helper.make_graph(nodes, "blaze", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 7, 4, 4]),
                               helper.make_tensor_value_info("score", TensorProto.FLOAT, [1, 1, 1, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _ort(path, x):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def test_channel_pad_rewrite_gives_onnxruntime_s_very_numbers(tmp_path):
    path = blaze_block(tmp_path / "blaze.onnx")
    model = onnx.load(str(path))
    assert channel_pads_as_concats(model, SIG) == 1
    assert [n.op_type for n in model.graph.node].count("Pad") == 0
    onnx.save(model, str(tmp_path / "rewritten.onnx"))
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
    for want, got in zip(_ort(path, x), _ort(tmp_path / "rewritten.onnx", x)):
        np.testing.assert_array_equal(got, want)


def test_ncnn_runs_the_padded_block_with_outputs_in_order(tmp_path):
    from edgepick.convert.to_ncnn import Pnnx
    from edgepick.runtimes.ncnn import Ncnn

    assert ncnn.layer_to_index("Pad") < 0  # the rewrite is needed: ncnn has no layer under the ONNX name
    path = blaze_block(tmp_path / "blaze.onnx")
    out = tmp_path / "ncnn"
    out.mkdir()
    artifact = Pnnx().convert(Artifact("onnx", str(path)), ConvertContext(SIG, out))
    assert artifact.meta["channel_pads_as_concats"] == 1
    x = np.random.default_rng(2).standard_normal((1, 4, 8, 8)).astype(np.float32)
    session = Ncnn().load(artifact, 1)
    got = session.to_numpy(session.run(session.prepare({"x": x})))
    want = _ort(path, x)
    assert [g.size for g in got] == [w.size for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.reshape(w.shape), w, rtol=1e-4, atol=1e-4)


def test_ncnn_blob_names_are_ordered_by_pnnx_s_number():
    from edgepick.runtimes.ncnn import in_model_order

    assert in_model_order(["out1", "out10", "out0", "out2"], "out") == ["out0", "out1", "out2", "out10"]
    assert in_model_order(["logits", "out0"], "out") == ["logits", "out0"]  # not pnnx's names: ncnn's order
