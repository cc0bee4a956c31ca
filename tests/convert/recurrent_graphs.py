"""Small recurrent ONNX graphs built with onnx.helper, and ONNX Runtime's outputs for them: shared by the tests of
onnx2torch's recurrent converters (test_onnx2torch_ops.py) and of the unrolling rewrite (test_recurrent_unroll.py)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

T, N, F, H = 5, 3, 4, 6  # steps, batch, features, hidden
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}


def _recurrent_graph(op, direction="forward", layout=0, states=False, lens=False, peepholes=False, **attrs):
    """x [N, T, F] (batch first, as the graph input) -> (Transpose for layout 0) -> op -> Y, Y_h (, Y_c) as graph
    outputs: Y through a Transpose back to batch first, the states straight from the op."""
    rng = np.random.default_rng(0)
    dirs, gates = (2 if direction == "bidirectional" else 1), GATES[op]
    inits = [numpy_helper.from_array(rng.standard_normal((dirs, gates * H, F)).astype(np.float32) * 0.5, "W"),
             numpy_helper.from_array(rng.standard_normal((dirs, gates * H, H)).astype(np.float32) * 0.5, "R"),
             numpy_helper.from_array(rng.standard_normal((dirs, 2 * gates * H)).astype(np.float32) * 0.5, "B")]
    state_shape = [dirs, N, H] if layout == 0 else [N, dirs, H]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, T, F])]
    op_inputs = ["x" if layout else "xt", "W", "R", "B", "lens" if lens else "", "h0" if states else ""]
    if lens:
        inputs.append(helper.make_tensor_value_info("lens", TensorProto.INT32, [N]))
    if states:
        inputs.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, state_shape))
    if op == "LSTM":
        op_inputs += ["c0" if states else "", "P" if peepholes else ""]
        if states:
            inputs.append(helper.make_tensor_value_info("c0", TensorProto.FLOAT, state_shape))
        if peepholes:
            inits.append(numpy_helper.from_array(rng.standard_normal((dirs, 3 * H)).astype(np.float32), "P"))
    while op_inputs[-1] == "":
        op_inputs.pop()
    state_outputs = ["Y_h", "Y_c"] if op == "LSTM" else ["Y_h"]
    nodes = [] if layout else [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2])]
    nodes.append(helper.make_node(op, op_inputs, ["Y", *state_outputs], hidden_size=H, direction=direction,
                                  **({"layout": 1} if layout else {}), **attrs))
    # Y: [T, dirs, N, H] (layout 0) or [N, T, dirs, H] (layout 1) -> [N, T, dirs, H]
    nodes.append(helper.make_node("Transpose", ["Y"], ["y"], perm=[2, 0, 1, 3] if layout == 0 else [0, 1, 2, 3]))
    y_shape = [N, T, dirs, H]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)]
    outputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, state_shape) for name in state_outputs]
    graph = helper.make_graph(nodes, "recurrent", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    return model


def _feeds(model):
    rng = np.random.default_rng(1)
    feeds = {}
    for i in model.graph.input:
        shape = [d.dim_value or N for d in i.type.tensor_type.shape.dim]  # a symbolic dim is the batch
        if i.type.tensor_type.elem_type == TensorProto.INT32:  # sequence lengths: one full, one short, one of 1
            feeds[i.name] = np.array([T, 2, 1], np.int32)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def _onnxruntime(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _batch_major_reference(op, options, feeds):
    """ONNX Runtime refuses layout=1 ("Batchwise recurrent operations (layout == 1) are not supported"): the same op
    with layout 0, fed the states and giving them back transposed, is what ONNX's layout=1 means."""
    swap = {name: (a.transpose(1, 0, 2) if name in ("h0", "c0") else a) for name, a in feeds.items()}
    got = _onnxruntime(_recurrent_graph(op, **{**options, "layout": 0}), swap)
    return [got[0], *[s.transpose(1, 0, 2) for s in got[1:]]]


CASES = {
    "lstm_bidirectional_initial_states": ("LSTM", {"direction": "bidirectional", "states": True}),
    "lstm_reverse_layout1_peepholes": ("LSTM", {"direction": "reverse", "layout": 1, "states": True, "peepholes": True}),
    "lstm_bidirectional_sequence_lens": ("LSTM", {"direction": "bidirectional", "lens": True, "states": True}),
    "lstm_clip_input_forget": ("LSTM", {"clip": 0.7, "input_forget": 1}),
    "gru_bidirectional": ("GRU", {"direction": "bidirectional", "states": True}),
    "gru_linear_before_reset_layout1": ("GRU", {"layout": 1, "linear_before_reset": 1, "states": True}),
    "gru_sequence_lens": ("GRU", {"direction": "bidirectional", "lens": True}),
    "gru_sequence_lens_linear_before_reset": ("GRU", {"direction": "reverse", "lens": True, "linear_before_reset": 1}),
    "rnn_bidirectional_relu": ("RNN", {"direction": "bidirectional", "activations": ["Relu", "Tanh"]}),
}




def crnn_head(steps=8, batch=1, features=4, hidden=6, classes=7):
    """An OCR recogniser's head: x [batch, steps, features] -> bidirectional LSTM -> [steps, batch, 2*hidden] ->
    MatMul -> Softmax over the classes."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((2, 4 * hidden, features)).astype(np.float32) * 0.5, "W"),
             numpy_helper.from_array(rng.standard_normal((2, 4 * hidden, hidden)).astype(np.float32) * 0.5, "R"),
             numpy_helper.from_array(rng.standard_normal((2, 8 * hidden)).astype(np.float32) * 0.5, "B"),
             numpy_helper.from_array(np.array([steps, batch, 2 * hidden], np.int64), "shape"),
             numpy_helper.from_array(rng.standard_normal((2 * hidden, classes)).astype(np.float32), "fc")]
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["xt", "W", "R", "B"], ["Y"], hidden_size=hidden, direction="bidirectional"),
             helper.make_node("Transpose", ["Y"], ["Yt"], perm=[0, 2, 1, 3]),
             helper.make_node("Reshape", ["Yt", "shape"], ["seq"]),
             helper.make_node("MatMul", ["seq", "fc"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["y"], axis=2)]
    graph = helper.make_graph(nodes, "crnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, steps, features])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [steps, batch, classes])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)
