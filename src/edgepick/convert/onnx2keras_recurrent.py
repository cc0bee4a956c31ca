"""ONNX LSTM for onnx2keras (0.0.25 has none), as Keras' own LSTM layer: the model stays backend-agnostic.

Keras' LSTM computes ONNX's default LSTM (sigmoid gates, tanh cell and output) with the gates in another order
(Keras i, f, c, o; ONNX i, o, f, c), one bias (ONNX's Wb + Rb) and batch-major sequences; a reverse direction is
go_backwards, whose outputs come back in reversed time order and are flipped. ONNX's sequence-major layout (0) puts
the time axis where onnx2keras keeps the batch, so the transposes around the op use keras.ops.transpose, and a
Transpose that moves axis 0 (which onnx2keras refuses: "Can't permute batch dimension") is taken the same way.
Refused with NotImplementedError (onnx2keras' caller reports it): peepholes, clip, input_forget, sequence_lens,
activations other than the defaults.
"""

from __future__ import annotations

_KERAS_GATES = [0, 2, 3, 1]  # Keras' i, f, c, o taken from ONNX's i, o, f, c


def _reorder(matrix, hidden):
    import numpy as np

    return np.concatenate([matrix[g * hidden:(g + 1) * hidden] for g in _KERAS_GATES], axis=0)


def _check(node, params, layers):
    names = list(node.input) + [""] * (8 - len(node.input))
    activations = [a.decode() if isinstance(a, bytes) else a for a in params.get("activations", [])]
    refused = {"peepholes": bool(names[7]), "sequence_lens": bool(names[4]), "clip": "clip" in params,
               "input_forget": bool(params.get("input_forget", 0)),
               "activations": any(a.lower() != d for a, d in zip(activations, ["sigmoid", "tanh", "tanh"] * 2))}
    if any(refused.values()):
        raise NotImplementedError(f"LSTM with {', '.join(k for k, v in refused.items() if v)} (edgepick's onnx2keras LSTM "
                                  "is Keras' LSTM layer)")
    return names


def convert_lstm(node, params, layers, lambda_func, node_name, keras_name):
    """onnx2keras' converter signature; sets every named output of the node in `layers`."""
    import keras
    import numpy as np

    names = _check(node, params, layers)
    hidden, layout = int(params["hidden_size"]), int(params.get("layout", 0))
    direction = params.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    w, r = layers[names[1]], layers[names[2]]
    b = layers[names[3]] if names[3] else np.zeros((w.shape[0], 8 * hidden), np.float32)
    ops = keras.ops
    x = layers[names[0]] if layout else ops.transpose(layers[names[0]], [1, 0, 2])  # -> [batch, steps, input]
    count = 2 if direction == "bidirectional" else 1
    states = [_states(layers, names[i], layout, count) for i in (5, 6)]
    base = keras_name[0] if isinstance(keras_name, list) else keras_name
    ys, hs, cs = [], [], []
    for d in range(count):
        backwards = direction == "reverse" or d == 1
        lstm = keras.layers.LSTM(hidden, return_sequences=True, return_state=True, go_backwards=backwards,
                                 name=f"{base}_lstm{d}")
        initial = None if states[0] is None else [states[0][d], states[1][d] if states[1] else ops.zeros_like(states[0][d])]
        y, h, c = lstm(x, initial_state=initial)
        lstm.set_weights([_reorder(w[d], hidden).T, _reorder(r[d], hidden).T,
                          _reorder(b[d][:4 * hidden] + b[d][4 * hidden:], hidden)])
        ys.append(ops.flip(y, axis=1) if backwards else y)
        hs.append(h)
        cs.append(c)
    y = ops.stack(ys, axis=2)  # [batch, steps, directions, hidden]
    results = [y if layout else ops.transpose(y, [1, 2, 0, 3]), ops.stack(hs, axis=1 if layout else 0),
               ops.stack(cs, axis=1 if layout else 0)]
    for name, value in zip(node.output, results):
        if name:
            layers[name] = value


def _states(layers, name, layout, count):
    """The initial states per direction, each [batch, hidden]; None when the graph gives none. (Keras sees a
    [directions, batch, hidden] state's first axis as its batch: its size is unknown to it.)"""
    if not name:
        return None
    import keras

    tensor = layers[name]
    return [keras.ops.take(tensor, d, axis=1 if layout else 0) for d in range(count)]


def batch_transpose(original):
    """onnx2keras' Transpose, with perms that move axis 0 done by keras.ops.transpose instead of refused."""
    def convert(node, params, layers, lambda_func, node_name, keras_name):
        import numpy as np

        value = layers[node.input[0]]
        if params["perm"][0] == 0 or isinstance(value, (np.ndarray, np.generic)):
            return original(node, params, layers, lambda_func, node_name, keras_name)
        import keras

        layers[node_name] = keras.ops.transpose(value, list(params["perm"]))
    convert.edgepick_wrapped = True
    return convert
