"""LSTM, GRU and RNN unrolled into plain ONNX ops (convert/recurrent_unroll.py), for converters without them (TVM's
Relax frontend). ONNX Runtime runs the rewritten graph and the original one: the same outputs on every planted case
(directions, layouts, initial states, sequence_lens, peepholes, clip, GRU's linear_before_reset), and no recurrent op
left. Then the TVM edge compiles a bidirectional LSTM it refused before ("LSTM" not supported) and agrees too."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from recurrent_graphs import CASES, TOLERANCE, _batch_major_reference, _feeds, _onnxruntime, _recurrent_graph  # noqa: E402

from edgepick.convert.recurrent_unroll import unroll_recurrent  # noqa: E402


@pytest.mark.parametrize("case", sorted(CASES))
def test_unrolled_graph_computes_what_the_recurrent_op_does(case):
    op, options = CASES[case]
    model = _recurrent_graph(op, **options)
    feeds = _feeds(model)
    want = _batch_major_reference(op, options, feeds) if options.get("layout") else _onnxruntime(model, feeds)
    assert unroll_recurrent(model) == 1
    onnx.checker.check_model(model, full_check=True)
    assert not {n.op_type for n in model.graph.node} & {"LSTM", "GRU", "RNN"}
    got = _onnxruntime(model, feeds)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, **TOLERANCE)


def test_a_sequence_of_unknown_length_is_left_as_it_is():
    model = _recurrent_graph("LSTM")
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[1].Clear()
    dims[1].dim_param = "steps"
    assert unroll_recurrent(model) == 0 and "LSTM" in {n.op_type for n in model.graph.node}


@pytest.mark.slow  # a TVM compile: tens of seconds
@pytest.mark.parametrize("case", ["lstm_bidirectional_initial_states", "gru_sequence_lens_linear_before_reset"])
def test_tvm_compiles_an_unrolled_recurrent_op(tmp_path, case):
    """Before: "OpNotImplemented: The following operators are not supported for frontend ONNX: LSTM" (GRU alike).
    After: compiled, and the same outputs as ONNX Runtime."""
    tvm = pytest.importorskip("tvm")
    from tvm import relax

    from edgepick.convert.base import ConvertContext
    from edgepick.convert.onnx_to_tvm import OnnxToTvm
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.signature import Signature, TensorSpec

    op, options = CASES[case]
    model = _recurrent_graph(op, **options)
    onnx.save(model, tmp_path / "m.onnx")
    feeds = _feeds(model)
    sig = Signature([TensorSpec(i.name, list(feeds[i.name].shape), str(feeds[i.name].dtype)) for i in model.graph.input])
    artifact = OnnxToTvm().convert(Artifact("onnx", str(tmp_path / "m.onnx")), ConvertContext(sig, tmp_path))
    assert artifact.meta["recurrent_unrolled"] == 1
    vm = relax.VirtualMachine(tvm.runtime.load_module(artifact.path), tvm.cpu())
    got = vm["main"](*[tvm.runtime.tensor(feeds[i.name]) for i in model.graph.input])
    want = _onnxruntime(model, feeds)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w, **TOLERANCE)


@pytest.mark.slow
def test_onnx2tf_converts_a_crnn_head_after_unrolling(tmp_path):
    """Before: onnx2tf died on the LSTM ("TypeError: 'NoneType' object is not subscriptable"; issue 24 saw "Can't
    convert Python sequence with mixed types to Tensor"). After: the .tflite agrees with ONNX Runtime."""
    from edgepick.core import envs

    if not envs.is_ready("onnx2tf"):
        pytest.skip("the onnx2tf env is absent: edgepick env create onnx2tf")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    from recurrent_graphs import crnn_head

    from edgepick.convert.chain import convert_along
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.signature import Signature, TensorSpec

    model = crnn_head()
    onnx.save(model, tmp_path / "crnn.onnx")
    final, steps = convert_along(["onnx2tf"], Artifact("onnx", str(tmp_path / "crnn.onnx")),
                                 Signature([TensorSpec("x", [1, 8, 4], "float32")]), tmp_path / "cache")
    assert final.meta["onnx2tf_input"]["recurrent_unrolled"] == 1 and len(steps) == 1  # no onnxslim retry needed
    x = np.random.default_rng(1).standard_normal((1, 8, 4)).astype(np.float32)
    interpreter = litert.Interpreter(model_path=final.path)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, _onnxruntime(model, {"x": x})[0], **TOLERANCE)
