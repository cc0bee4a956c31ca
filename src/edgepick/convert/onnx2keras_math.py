"""Elementwise, logical, reduction and normalisation ONNX ops for onnx2keras, as keras.ops on the symbolic tensors.

onnx2keras 0.0.25 turns most of these into Lambda layers holding TensorFlow code (always when one operand is a
constant), which Keras on JAX cannot run and safe mode refuses; transformer exports add ops it has no converter for
(Erf, Gelu, Where, IsNaN, LayerNormalization, ...). A Keras 3 functional model records each keras.ops call as an
operation of its graph, saved by class name with its constant operands as typed arrays (no bytecode), so every backend
loads and runs it. When every input is a constant (onnx2keras keeps constants as numpy arrays: shape arithmetic,
folded masks) the op is computed with numpy instead, as onnx2keras does, so later converters still see constants.
"""

from __future__ import annotations

import numpy as np

CONTEXT = {"batch": 1, "opset": 13}  # the signature's batch and the model's ONNX opset, set by register()


def is_const(value) -> bool:
    return isinstance(value, (np.ndarray, np.generic))


def const(value):
    """A numpy constant as a 0-d/n-d array (a numpy scalar would be saved as an untyped Python number)."""
    return np.asarray(value)


def inputs_of(node, layers):
    return [layers[name] if name else None for name in node.input]


def static_shape(tensor) -> list[int]:
    """The tensor's shape with the unknown batch axis taken as the signature's batch."""
    if is_const(tensor):
        return list(np.shape(tensor))
    return [CONTEXT["batch"] if d is None else int(d) for d in tensor.shape]


def _operand(value):
    return const(value) if is_const(value) else value


def _both(numpy_fn, keras_name):
    """A converter computing numpy_fn when every input is a constant, else keras.ops.<keras_name> on the tensors."""
    def convert(node, params, layers, lambda_func, node_name, keras_name_):
        import keras

        values = inputs_of(node, layers)
        if all(is_const(v) for v in values):
            layers[node_name] = const(numpy_fn(*values))
        else:
            layers[node_name] = getattr(keras.ops, keras_name)(*[_operand(v) for v in values])
    return convert


def _integer(*values) -> bool:
    return all(np.issubdtype(np.dtype(getattr(v, "dtype", "float32")), np.integer) for v in values)


def convert_div(node, params, layers, lambda_func, node_name, keras_name):
    """ONNX Div truncates integers (shape arithmetic); floats divide."""
    import keras

    a, b = inputs_of(node, layers)
    if is_const(a) and is_const(b):
        layers[node_name] = const(np.trunc(a / b).astype(a.dtype) if _integer(a, b) else a / b)
        return
    op = keras.ops.floor_divide if _integer(a, b) else keras.ops.divide
    layers[node_name] = op(_operand(a), _operand(b))


def _erf(x):
    from math import erf

    return np.vectorize(erf, otypes=[x.dtype])(x)


def convert_gelu(node, params, layers, lambda_func, node_name, keras_name):
    """ONNX Gelu (opset 20): x/2 * (1 + erf(x/sqrt 2)), or the tanh approximation; keras.ops.gelu computes both."""
    import keras

    approximate = params.get("approximate", b"none")
    approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
    layers[node_name] = keras.ops.gelu(layers[node.input[0]], approximate=approximate == "tanh")


def convert_cast(node, params, layers, lambda_func, node_name, keras_name):
    import keras
    from onnx import helper

    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(int(params["to"])))
    value = layers[node.input[0]]
    layers[node_name] = const(value.astype(dtype)) if is_const(value) else keras.ops.cast(value, dtype.name)


def convert_clip(node, params, layers, lambda_func, node_name, keras_name):
    """min/max from the attributes (opset < 11) or the optional inputs; an absent bound does not clip."""
    import keras

    values = inputs_of(node, layers) + [None, None]
    low = values[1] if values[1] is not None else params.get("min", None)
    high = values[2] if values[2] is not None else params.get("max", None)
    x = values[0]
    for bound, op in ((low, keras.ops.maximum), (high, keras.ops.minimum)):
        if bound is not None:  # an attribute (a Python float), a constant input, or a computed one
            x = op(x, const(np.float32(bound)) if isinstance(bound, float) else _operand(bound))
    layers[node_name] = x


def _axes(node, params, layers, rank):
    """Reduction axes from the attribute or (opset 13/18+) the second input; None reduces every axis."""
    axes = params.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = layers[node.input[1]]
    if axes is None or len(axes) == 0:
        return None
    return tuple(sorted(int(a) % rank for a in np.asarray(axes).reshape(-1)))


def _reduce(numpy_fn, keras_fn):
    def convert(node, params, layers, lambda_func, node_name, keras_name):
        import keras

        x = layers[node.input[0]]
        axes = _axes(node, params, layers, len(static_shape(x)))
        if axes is None and params.get("noop_with_empty_axes", 0):
            layers[node_name] = x
            return
        keep = bool(params.get("keepdims", 1))
        if is_const(x):
            layers[node_name] = const(numpy_fn(x, axis=axes, keepdims=keep))
        else:
            layers[node_name] = keras_fn(keras.ops)(x, axis=axes, keepdims=keep)
    return convert


def convert_reduce_l2(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x = layers[node.input[0]]
    axes = _axes(node, params, layers, len(static_shape(x)))
    keep = bool(params.get("keepdims", 1))
    layers[node_name] = keras.ops.sqrt(keras.ops.sum(keras.ops.square(x), axis=axes, keepdims=keep))


def convert_global_average_pool(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x = layers[node.input[0]]
    layers[node_name] = keras.ops.mean(x, axis=tuple(range(2, len(x.shape))), keepdims=True)


def convert_softmax(node, params, layers, lambda_func, node_name, keras_name):
    """Opset 13+: along `axis` (default -1). Before 13 the input is seen as 2-D, [:axis] by [axis:] (default 1)."""
    import keras

    x = layers[node.input[0]]
    shape = static_shape(x)
    op = node.op_type == "LogSoftmax" and keras.ops.log_softmax or keras.ops.softmax
    if CONTEXT["opset"] >= 13:
        layers[node_name] = op(x, axis=int(params.get("axis", -1)))
        return
    axis = int(params.get("axis", 1)) % len(shape)
    if axis == len(shape) - 1:
        layers[node_name] = op(x, axis=-1)
        return
    flat = keras.ops.reshape(x, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))))
    layers[node_name] = keras.ops.reshape(op(flat, axis=-1), shape)


def convert_layer_norm(node, params, layers, lambda_func, node_name, keras_name):
    """Normalised over axes [axis:] (default -1), in float32 (stash_type 1): Keras' LayerNormalization when the
    scale and bias are constants over the last axis, else the same formula in keras.ops."""
    import keras

    x, scale, bias = (inputs_of(node, layers) + [None, None])[:3]
    rank = len(static_shape(x))
    axis = int(params.get("axis", -1)) % rank
    epsilon = float(params.get("epsilon", 1e-5))
    if axis == rank - 1 and is_const(scale) and (bias is None or is_const(bias)) and scale.ndim == 1:
        norm = keras.layers.LayerNormalization(axis=-1, epsilon=epsilon, center=bias is not None, name=keras_name)
        layers[node_name] = norm(x)
        norm.set_weights([scale] + ([bias] if bias is not None else []))
        return
    axes = tuple(range(axis, rank))
    mean = keras.ops.mean(x, axis=axes, keepdims=True)
    centred = keras.ops.subtract(x, mean)
    variance = keras.ops.mean(keras.ops.square(centred), axis=axes, keepdims=True)
    y = keras.ops.multiply(centred, keras.ops.rsqrt(keras.ops.add(variance, const(np.float32(epsilon)))))
    y = keras.ops.multiply(y, _operand(scale))
    layers[node_name] = y if bias is None else keras.ops.add(y, _operand(bias))


def convert_matmul(node, params, layers, lambda_func, node_name, keras_name):
    """A constant 2-D right operand is a Dense layer's kernel (saved as a weight, not inline); else keras.ops.matmul
    (onnx2keras multiplied two tensors elementwise)."""
    import keras

    a, b = inputs_of(node, layers)
    if is_const(a) and is_const(b):
        layers[node_name] = const(np.matmul(a, b))
    elif is_const(b) and b.ndim == 2 and len(static_shape(a)) >= 2:
        dense = keras.layers.Dense(b.shape[1], use_bias=False, name=keras_name)
        layers[node_name] = dense(a)
        dense.set_weights([b])
    else:
        layers[node_name] = keras.ops.matmul(_operand(a), _operand(b))


def _where(cond, a, b):
    return np.where(cond, a, b)


MATH_CONVERTERS = {
    "Add": _both(np.add, "add"), "Sum": _both(np.add, "add"), "Sub": _both(np.subtract, "subtract"),
    "Mul": _both(np.multiply, "multiply"), "Div": convert_div, "Pow": _both(np.power, "power"),
    "Max": _both(np.maximum, "maximum"), "Min": _both(np.minimum, "minimum"),
    "Sqrt": _both(np.sqrt, "sqrt"), "Exp": _both(np.exp, "exp"), "Log": _both(np.log, "log"),
    "Neg": _both(np.negative, "negative"), "Abs": _both(np.abs, "abs"), "Floor": _both(np.floor, "floor"),
    "Ceil": _both(np.ceil, "ceil"), "Erf": _both(_erf, "erf"), "Tanh": _both(np.tanh, "tanh"),
    "Sin": _both(np.sin, "sin"), "Cos": _both(np.cos, "cos"),
    "Where": _both(_where, "where"), "IsNaN": _both(np.isnan, "isnan"), "IsInf": _both(np.isinf, "isinf"),
    "Not": _both(np.logical_not, "logical_not"), "And": _both(np.logical_and, "logical_and"),
    "Or": _both(np.logical_or, "logical_or"), "Xor": _both(np.logical_xor, "logical_xor"),
    "Greater": _both(np.greater, "greater"), "Less": _both(np.less, "less"),
    "GreaterOrEqual": _both(np.greater_equal, "greater_equal"), "LessOrEqual": _both(np.less_equal, "less_equal"),
    "Gelu": convert_gelu, "Cast": convert_cast, "Clip": convert_clip,
    "ReduceMean": _reduce(np.mean, lambda ops: ops.mean), "ReduceSum": _reduce(np.sum, lambda ops: ops.sum),
    "ReduceMax": _reduce(np.max, lambda ops: ops.max), "ReduceMin": _reduce(np.min, lambda ops: ops.min),
    "ReduceProd": _reduce(np.prod, lambda ops: ops.prod), "ReduceL2": convert_reduce_l2,
    "GlobalAveragePool": convert_global_average_pool, "Softmax": convert_softmax, "LogSoftmax": convert_softmax,
    "LayerNormalization": convert_layer_norm, "MatMul": convert_matmul,
}
