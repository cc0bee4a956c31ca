"""ONNX Conv cases onnx2keras 0.0.25 builds as TensorFlow Lambda layers, as Keras' own Conv1D/Conv2D with `groups`.

onnx2keras wraps a 1-D convolution (always 'SAME'-padded, whatever the pads) and a grouped 2-D convolution (1 < group
< channels) in Lambdas, and maps group == channels to DepthwiseConv2D with one filter per channel even when the
convolution has several, and ignores auto_pad. wav2vec 2.0's feature encoder and grouped positional convolution are such cases. Keras'
ConvND layers take ONNX's group count as `groups` (the same split of input channels and filters), the kernel
moved from ONNX's [out, in/group, k...] to Keras' [k..., in/group, out]; ONNX's explicit (or auto_pad) padding is a
zero keras.ops.pad before a 'valid' convolution. Every other Conv stays onnx2keras' own (plain and depthwise 2-D).
"""

from __future__ import annotations

import numpy as np

from edgepick.convert.onnx2keras_math import inputs_of, static_shape


def _pads(params, spatial, kernel, strides, dilations):
    """Begin/end padding per spatial axis, from `pads` or auto_pad (SAME_UPPER puts the odd cell at the end)."""
    auto = params.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    rank = len(spatial)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in zip(spatial, kernel, strides, dilations):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            pads.append((small, large) if auto == "SAME_UPPER" else (large, small))
        return pads
    flat = [int(p) for p in params.get("pads", [0] * 2 * rank)]
    return [(flat[i], flat[i + rank]) for i in range(rank)]


def _own(params, x_rank, weight):
    """Whether this Conv is one onnx2keras gets wrong or wraps in a Lambda."""
    group = int(params.get("group", 1))
    channels = weight.shape[1] * group
    dilations = list(params.get("dilations", []))
    auto = params.get("auto_pad", b"NOTSET")
    if (auto.decode() if isinstance(auto, bytes) else auto).startswith("SAME"):
        return True  # onnx2keras ignores auto_pad
    return x_rank == 3 or (x_rank == 4 and group > 1 and (group < channels or weight.shape[0] != channels)) or \
        (x_rank == 4 and len(set(dilations)) > 1)


def convert_conv_grouped(original):
    def convert(node, params, layers, lambda_func, node_name, keras_name):
        import keras

        x, weight, bias = (inputs_of(node, layers) + [None])[:3]
        shape = static_shape(x)
        if not _own(params, len(shape), weight):
            return original(node, params, layers, lambda_func, node_name, keras_name)
        rank = len(shape) - 2
        kernel = list(weight.shape[2:])
        strides = [int(s) for s in params.get("strides", [1] * rank)]
        dilations = [int(d) for d in params.get("dilations", [1] * rank)]
        pads = _pads(params, shape[2:], kernel, strides, dilations)
        if any(p for pair in pads for p in pair):
            x = keras.ops.pad(x, [(0, 0), (0, 0)] + pads)
        layer = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}[rank](
            weight.shape[0], kernel, strides=strides, dilation_rate=dilations, groups=int(params.get("group", 1)),
            padding="valid", data_format="channels_first", use_bias=bias is not None, name=keras_name)
        layers[node_name] = layer(x)
        order = list(range(2, 2 + rank)) + [1, 0]
        layer.set_weights([np.transpose(weight, order)] + ([bias] if bias is not None else []))
    convert.edgepick_wrapped = True
    return convert
