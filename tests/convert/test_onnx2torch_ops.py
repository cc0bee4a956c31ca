"""ONNX ops onnx2torch 1.5.15 has no converter for (convert/onnx2torch_ops.py, convert/onnx2torch_recurrent.py):
GlobalMaxPool, LSTM, GRU, RNN. Each planted in a small graph built with onnx.helper, converted by the onnx2torch edge
(onnx2torch, then torch.export), and the exported program compared with ONNX Runtime on the original graph:
bidirectional and reverse passes, both layouts, initial states, sequence_lens (a padded batch), peepholes, GRU's
two linear_before_reset forms, and LSTM outputs that are graph outputs themselves."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
if importlib.util.find_spec("onnx2torch") is None:  # importorskip would import it, and it imports torchvision
    pytest.skip("onnx2torch is not installed: pip install --no-deps onnx2torch==1.5.15", allow_module_level=True)

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from recurrent_graphs import CASES, TOLERANCE, F, T, _batch_major_reference, _feeds, _onnxruntime, _recurrent_graph  # noqa: E402

from edgepick.convert.base import ConvertContext  # noqa: E402
from edgepick.convert.onnx_to_torch import OnnxToTorch  # noqa: E402
from edgepick.core.artifact import Artifact  # noqa: E402
from edgepick.inputs.signature import Signature, TensorSpec  # noqa: E402


def _convert_and_compare(model, tmp_path, batch_dynamic=False, reference=None):
    """Convert with the onnx2torch edge; return (artifact, max abs error against ONNX Runtime over every output).
    reference(feeds) gives the expected outputs where ONNX Runtime cannot run the graph itself."""
    source = tmp_path / "model.onnx"
    onnx.save(model, source)
    feeds = _feeds(model)
    dtype = {TensorProto.FLOAT: "float32", TensorProto.INT32: "int32"}
    sig = Signature([TensorSpec(i.name, list(feeds[i.name].shape), dtype[i.type.tensor_type.elem_type],
                                batch_dynamic=batch_dynamic) for i in model.graph.input])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    artifact = OnnxToTorch().convert(Artifact("onnx", str(source), {}), ConvertContext(sig, out_dir))
    want = reference(feeds) if reference else _onnxruntime(model, feeds)
    got = torch.export.load(artifact.path).module()(*[torch.from_numpy(feeds[i.name]) for i in model.graph.input])
    got = list(got) if isinstance(got, (tuple, list)) else [got]
    assert len(got) == len(want)
    worst = 0.0
    for g, w in zip(got, want):
        assert tuple(g.shape) == w.shape
        np.testing.assert_allclose(g.detach().numpy(), w, **TOLERANCE)
        worst = max(worst, float(np.abs(g.detach().numpy() - w).max()))
    return artifact, worst


@pytest.mark.parametrize("case", sorted(CASES))
def test_recurrent_op_matches_onnxruntime(tmp_path, case):
    """Before: "Converter is not implemented (OperationDescription(domain='', operation_type='LSTM', version=14))"."""
    op, options = CASES[case]
    reference = (lambda feeds: _batch_major_reference(op, options, feeds)) if options.get("layout") else None
    _, worst = _convert_and_compare(_recurrent_graph(op, **options), tmp_path, reference=reference)
    assert worst < 1e-5


def test_lstm_with_a_dynamic_batch_stays_dynamic(tmp_path):
    """A CRNN-like head: the batch stays symbolic in the exported program, and a batch other than the traced one
    agrees with ONNX Runtime too."""
    model = _recurrent_graph("LSTM", direction="bidirectional")
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        batch_at = 1 if value.name in ("Y_h", "Y_c") else 0
        dims[batch_at].Clear()
        dims[batch_at].dim_param = "N"
    artifact, _ = _convert_and_compare(model, tmp_path, batch_dynamic=True)
    assert artifact.meta["static_batch"] is None
    x = np.random.default_rng(4).standard_normal((7, T, F)).astype(np.float32)
    want = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    got = torch.export.load(artifact.path).module()(torch.from_numpy(x))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), w, **TOLERANCE)


def test_global_max_pool_matches_onnxruntime(tmp_path):
    """Before: "Converter is not implemented (... operation_type='GlobalMaxPool' ...)". An SE-like gate on its max."""
    rng = np.random.default_rng(2)
    weight = numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalMaxPool", ["c"], ["g"]),
             helper.make_node("Sigmoid", ["g"], ["s"]),
             helper.make_node("Mul", ["c", "s"], ["y"])]
    graph = helper.make_graph(nodes, "gmp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 7])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    _, worst = _convert_and_compare(model, tmp_path)
    assert worst < 1e-5
