"""ONNX LSTM and GRU for onnx2keras (0.0.25 has neither), as Keras' own layers: the model stays backend-agnostic.

Keras' LSTM computes ONNX's default LSTM (sigmoid gates, tanh cell and output) with the gates in another order
(Keras i, f, c, o; ONNX i, o, f, c), one bias (ONNX's Wb + Rb) and batch-major sequences. Keras' GRU has ONNX's gate
order; reset_after=True is ONNX's linear_before_reset=1 (two biases), False the default (one summed bias). A reverse
direction is go_backwards, whose outputs come back in reversed time order and are flipped. ONNX's sequence-major layout (0) puts
the time axis where onnx2keras keeps the batch, so the transposes around the op use keras.ops.transpose, as does
onnx2keras_shape's Transpose (onnx2keras' own refuses to move axis 0: "Can't permute batch dimension").
Refused with NotImplementedError (onnx2keras' caller reports it): peepholes, clip, input_forget, sequence_lens,
activations other than the defaults.
"""

from __future__ import annotations

_KERAS_GATES = [0, 2, 3, 1]  # Keras' i, f, c, o taken from ONNX's i, o, f, c


def _reorder(matrix, hidden):
    import numpy as np

    return np.concatenate([matrix[g * hidden:(g + 1) * hidden] for g in _KERAS_GATES], axis=0)


def _check(node, params, layers):
    kind = node.op_type
    names = list(node.input) + [""] * (8 - len(node.input))
    activations = [a.decode() if isinstance(a, bytes) else a for a in params.get("activations", [])]
    defaults = ["sigmoid", "tanh", "tanh"] if kind == "LSTM" else ["sigmoid", "tanh"]
    refused = {"peepholes": bool(names[7]), "sequence_lens": bool(names[4]), "clip": "clip" in params,
               "input_forget": bool(params.get("input_forget", 0)),
               "activations": any(a.lower() != d for a, d in zip(activations, defaults * 2))}
    if any(refused.values()):
        raise NotImplementedError(f"{kind} with {', '.join(k for k, v in refused.items() if v)} (edgepick's onnx2keras "
                                  f"{kind} is Keras' {kind} layer)")
    return names


def convert_recurrent(node, params, layers, lambda_func, node_name, keras_name):
    """onnx2keras' converter signature, for LSTM and GRU; sets every named output of the node in `layers`."""
    import keras

    names = _check(node, params, layers)
    layout = int(params.get("layout", 0))
    direction = params.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    ops = keras.ops
    x = layers[names[0]] if layout else ops.transpose(layers[names[0]], [1, 0, 2])  # -> [batch, steps, input]
    count = 2 if direction == "bidirectional" else 1
    states = [_states(layers, names[i], layout, count) for i in (5, 6)]
    base = keras_name[0] if isinstance(keras_name, list) else keras_name
    ys, hs, cs = [], [], []
    for d in range(count):
        backwards = direction == "reverse" or d == 1
        initial = None if states[0] is None else [states[0][d]]
        if node.op_type == "LSTM" and initial:
            initial.append(states[1][d] if states[1] else ops.zeros_like(initial[0]))
        y, h, *c = _layer(node.op_type, params, [layers[n] if n else None for n in names[1:4]], d, backwards,
                          f"{base}_{node.op_type.lower()}{d}")(x, initial_state=initial)
        ys.append(ops.flip(y, axis=1) if backwards else y)
        hs.append(h)
        cs.extend(c)
    y = ops.stack(ys, axis=2)  # [batch, steps, directions, hidden]
    results = [y if layout else ops.transpose(y, [1, 2, 0, 3]), ops.stack(hs, axis=1 if layout else 0)]
    results += [ops.stack(cs, axis=1 if layout else 0)] if cs else []
    for name, value in zip(node.output, results):
        if name:
            layers[name] = value


def _layer(kind, params, weights, d, backwards, name):
    """Keras' LSTM or GRU for direction d, its weights set from ONNX's W, R, B once built (on its first call)."""
    import keras
    import numpy as np

    hidden = int(params["hidden_size"])
    w, r, b = weights
    gates = 4 if kind == "LSTM" else 3
    b = b if b is not None else np.zeros((w.shape[0], 2 * gates * hidden), np.float32)
    wb, rb = b[d][:gates * hidden], b[d][gates * hidden:]
    options = {"return_sequences": True, "return_state": True, "go_backwards": backwards, "name": name}
    if kind == "LSTM":
        layer = keras.layers.LSTM(hidden, **options)
        values = [_reorder(w[d], hidden).T, _reorder(r[d], hidden).T, _reorder(wb + rb, hidden)]
    else:  # Keras' GRU has ONNX's gate order (z, r, h); reset_after is linear_before_reset, with its two biases
        after = bool(params.get("linear_before_reset", 0))
        layer = keras.layers.GRU(hidden, reset_after=after, **options)
        values = [w[d].T, r[d].T, np.stack([wb, rb]) if after else wb + rb]

    def call(x, initial_state=None):
        outputs = layer(x, initial_state=initial_state)
        layer.set_weights(values)
        return outputs
    return call


def _states(layers, name, layout, count):
    """The initial states per direction, each [batch, hidden]; None when the graph gives none. (Keras sees a
    [directions, batch, hidden] state's first axis as its batch: its size is unknown to it.)"""
    if not name:
        return None
    import keras

    tensor = layers[name]
    return [keras.ops.take(tensor, d, axis=1 if layout else 0) for d in range(count)]

