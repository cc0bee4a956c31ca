"""ONNX MaxPool and AveragePool for onnx2keras as Keras pooling layers over an explicitly padded input.

onnx2keras 0.0.25 pads a pool with zeros and reads pads as symmetric: a MaxPool with pads [0, 0, 1, 1] (TFLite's SAME
through tf2onnx, fer-emotion-int8) pads the wrong side, and zeros win a max over negative values. Here the padding is
ONNX's (begin/end per axis, auto_pad, ceil_mode's extra cells at the end): a max pads with float32's lowest value
(never chosen over a real one); an average pads with zeros and divides each window's sum by its count of cells
(count_include_pad counts the explicit pads, never ceil_mode's extra), a numpy constant, as ONNX Runtime does.
"""

from __future__ import annotations

import numpy as np

from edgepick.convert.onnx2keras_conv import _pads
from edgepick.convert.onnx2keras_math import const, static_shape


def _geometry(params, spatial):
    """kernel, strides and (begin, end) pads per spatial axis, ceil_mode's extra cells added to the ends."""
    rank = len(spatial)
    kernel = [int(k) for k in params["kernel_shape"]]
    strides = [int(s) for s in params.get("strides", [1] * rank)]
    if any(int(d) != 1 for d in params.get("dilations", [1] * rank)):
        raise NotImplementedError("pooling with dilations")
    pads = _pads(params, spatial, kernel, strides, [1] * rank)
    if params.get("ceil_mode", 0):
        ends = []
        for size, k, s, (begin, end) in zip(spatial, kernel, strides, pads):
            out = -(-(size + begin + end - k) // s) + 1
            out -= 1 if (out - 1) * s >= size + begin else 0  # the last window must start inside the input
            ends.append((begin, end, max((out - 1) * s + k - (size + begin + end), 0)))
        return kernel, strides, [(b, e + extra) for b, e, extra in ends], [e for _, e, _ in ends]
    return kernel, strides, pads, [end for _, end in pads]


def _window_counts(spatial, kernel, strides, pads, explicit_ends, include_pad):
    """Per output position, how many cells of its window ONNX divides by."""
    mask = np.ones(spatial, np.float64)
    width = [(b, e) if include_pad else (0, 0) for (b, _), e in zip(pads, explicit_ends)]
    mask = np.pad(mask, width, constant_values=1.0)
    rest = [(b - w[0], e - w[1]) for (b, e), w in zip(pads, width)]
    mask = np.pad(mask, rest, constant_values=0.0)
    windows = np.lib.stride_tricks.sliding_window_view(mask, kernel)
    windows = windows[tuple(slice(None, None, s) for s in strides)]
    return windows.sum(axis=tuple(range(-len(kernel), 0)))


def convert_pool(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x = layers[node.input[0]]
    shape = static_shape(x)
    kernel, strides, pads, explicit_ends = _geometry(params, shape[2:])
    maximum = node.op_type == "MaxPool"
    if len(node.output) > 1 and node.output[1]:
        raise NotImplementedError("MaxPool's Indices output")
    if any(p for pair in pads for p in pair):
        fill = float(np.finfo(np.float32).min) if maximum else 0.0
        x = keras.ops.pad(x, [(0, 0), (0, 0)] + list(pads), constant_values=fill)
    # Keras' pooling layers, not keras.ops.max_pool: a saved op comes back with list sizes, which JAX's pool refuses.
    kind = {(1, True): "MaxPooling1D", (2, True): "MaxPooling2D", (1, False): "AveragePooling1D",
            (2, False): "AveragePooling2D"}.get((len(kernel), maximum))
    if kind is None:
        raise NotImplementedError(f"{node.op_type} over {len(kernel)} spatial axes")
    y = getattr(keras.layers, kind)(kernel, strides, padding="valid", data_format="channels_first", name=keras_name)(x)
    if not maximum:
        counts = _window_counts(shape[2:], kernel, strides, pads, explicit_ends,
                                bool(params.get("count_include_pad", 0)))
        if not np.all(counts == np.prod(kernel)):
            y = keras.ops.multiply(y, const((np.prod(kernel) / counts).astype(np.float32)))
    layers[node_name] = y


POOL_CONVERTERS = {"MaxPool": convert_pool, "AveragePool": convert_pool}
