"""ONNX QuantizeLinear / DequantizeLinear for onnx2keras, so a QDQ graph (an int8 TFLite model through tf2onnx) runs
as float arithmetic that rounds where the int8 model rounds ("fake quantisation") on any Keras backend.

DequantizeLinear of a constant (an int8 weight) is folded in numpy to the float weight, so Conv and MatMul keep
their Keras layers; of a tensor it is (x - zero_point) * scale in keras.ops. QuantizeLinear is ONNX's
saturate(round_half_to_even(x / scale) + zero_point) in the zero point's integer type. Per-axis scales (`axis`,
default 1) are shaped to broadcast along that axis. The results are not bit-exact with an integer kernel that
requantises its accumulator differently; the sweep's equivalence check judges them like any other row.
"""

from __future__ import annotations

import numpy as np

from edgepick.convert.onnx2keras_math import const, inputs_of, is_const, static_shape


def _along(value, axis, rank):
    """A per-axis (1-D) scale or zero point shaped to broadcast along `axis` of a rank-`rank` tensor."""
    value = np.asarray(value)
    if value.ndim != 1 or rank == 0:
        return value
    shape = [1] * rank
    shape[axis % rank] = value.shape[0]
    return value.reshape(shape)


def _operands(node, params, layers):
    x, scale, zero = (inputs_of(node, layers) + [None, None])[:3]
    rank = len(static_shape(x))
    axis = int(params.get("axis", 1))
    zero = np.zeros((), np.uint8) if zero is None else zero
    if not (is_const(scale) and is_const(zero)):
        raise NotImplementedError(f"{node.op_type} with a computed scale or zero point")
    return x, _along(scale, axis, rank).astype(np.float32), _along(zero, axis, rank)


def convert_dequantize(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x, scale, zero = _operands(node, params, layers)
    if is_const(x):
        layers[node_name] = const(((x.astype(np.int32) - zero.astype(np.int32)) * scale).astype(np.float32))
        return
    shifted = keras.ops.subtract(keras.ops.cast(x, "float32"), const(zero.astype(np.float32)))
    layers[node_name] = keras.ops.multiply(shifted, const(scale))


def convert_quantize(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x, scale, zero = _operands(node, params, layers)
    info = np.iinfo(zero.dtype)
    if is_const(x):
        q = np.clip(np.round(x / scale) + zero.astype(np.float32), info.min, info.max)
        layers[node_name] = const(q.astype(zero.dtype))
        return
    q = keras.ops.add(keras.ops.round(keras.ops.divide(x, const(scale))), const(zero.astype(np.float32)))
    q = keras.ops.clip(q, float(info.min), float(info.max))
    layers[node_name] = keras.ops.cast(q, zero.dtype.name)


QUANT_CONVERTERS = {"DequantizeLinear": convert_dequantize, "QuantizeLinear": convert_quantize}
