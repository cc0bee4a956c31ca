"""Shape, indexing and layout ONNX ops for onnx2keras, as keras.ops on the symbolic tensors (no Lambda layers).

onnx2keras 0.0.25 treats axis 0 as an implicit batch (its Reshape drops the target's first entry, its Gather and
Slice refuse or wrap the batch axis in a Lambda) and builds most of these as TensorFlow Lambdas. Here every tensor is
handled with its full rank, the way ONNX sees it: the unknown batch axis of a Keras tensor is the signature's batch
(onnx2keras_math.CONTEXT), and a reshape keeps it unknown (-1) when the target leaves the leading axis alone.
Constants (numpy arrays) are computed with numpy, so shape arithmetic stays constant for the converters after.
"""

from __future__ import annotations

import numpy as np

from edgepick.convert.onnx2keras_math import const, inputs_of, is_const, static_shape


def _operand(value):
    return const(value) if is_const(value) else value


def convert_transpose(node, params, layers, lambda_func, node_name, keras_name):
    """Any permutation, the batch axis's too (onnx2keras refuses to move it, and feeds a constant to a layer)."""
    import keras

    x = layers[node.input[0]]
    perm = [int(p) for p in params["perm"]] if "perm" in params else None
    layers[node_name] = const(np.transpose(x, perm)) if is_const(x) else keras.ops.transpose(x, perm)


def convert_shape(node, params, layers, lambda_func, node_name, keras_name):
    """Shape of a Keras tensor is its static shape (static after onnxslim fixed the inputs), a constant."""
    shape = np.asarray(static_shape(layers[node.input[0]]), np.int64)
    start, end = int(params.get("start", 0)), params.get("end")
    layers[node_name] = shape[start:None if end is None else int(end)]


def _target(shape_in, target, allowzero):
    """ONNX's target shape made explicit: 0 copies the input's dim (unless allowzero), -1 inferred."""
    target = [int(t) for t in np.asarray(target).reshape(-1)]
    if not allowzero:
        target = [shape_in[i] if t == 0 else t for i, t in enumerate(target)]
    if -1 in target:
        known = int(np.prod([t for t in target if t != -1]))
        target[target.index(-1)] = int(np.prod(shape_in)) // max(known, 1)
    return target


def convert_reshape(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x, target = inputs_of(node, layers)[:2]
    if not is_const(target):
        raise NotImplementedError("Reshape to a computed (non-constant) shape")
    if is_const(x):
        layers[node_name] = const(np.reshape(x, _target(list(x.shape), target, params.get("allowzero", 0))))
        return
    shape_in = static_shape(x)
    shape = _target(shape_in, target, params.get("allowzero", 0))
    if x.shape[0] is None and shape[0] == shape_in[0] and int(np.prod(shape[1:])) == int(np.prod(shape_in[1:])):
        shape[0] = -1  # the batch axis passes through: keep it as unknown as the input's
    layers[node_name] = keras.ops.reshape(x, shape)


def convert_flatten(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x = layers[node.input[0]]
    shape = static_shape(x)
    axis = int(params.get("axis", 1)) % (len(shape) + 1) if shape else 0
    target = [int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))]
    if is_const(x):
        layers[node_name] = const(np.reshape(x, target))
        return
    layers[node_name] = keras.ops.reshape(x, [-1 if axis == 1 and x.shape[0] is None else target[0], target[1]])


def _axes_param(node, params, layers):
    axes = params.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = layers[node.input[1]]
    return None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]


def convert_unsqueeze(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x = layers[node.input[0]]
    axes = _axes_param(node, params, layers)
    rank = len(static_shape(x)) + len(axes)
    for axis in sorted(a % rank for a in axes):
        x = np.expand_dims(x, axis) if is_const(x) else keras.ops.expand_dims(x, axis)
    layers[node_name] = x


def convert_squeeze(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x = layers[node.input[0]]
    shape = static_shape(x)
    axes = _axes_param(node, params, layers)
    axes = tuple(a % len(shape) for a in axes) if axes else tuple(i for i, d in enumerate(shape) if d == 1)
    layers[node_name] = const(np.squeeze(x, axes)) if is_const(x) else keras.ops.squeeze(x, axis=axes)


def convert_concat(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    values = [v for v in inputs_of(node, layers) if v is not None and 0 not in static_shape(v)]
    axis = int(params["axis"])
    if all(is_const(v) for v in values):
        layers[node_name] = const(np.concatenate(values, axis=axis))
        return
    layers[node_name] = keras.ops.concatenate([_operand(v) for v in values], axis=axis)


def _slice_of(dim, start, end, step):
    """ONNX Slice bounds for one axis, clamped as ONNX clamps them, as a Python slice."""
    start, end = int(start), int(end)
    if step > 0:
        start = min(max(start + dim if start < 0 else start, 0), dim)
        end = min(max(end + dim if end < 0 else end, 0), dim)
        return slice(start, end, step)
    start = min(max(start + dim if start < 0 else start, -1), dim - 1)
    end = min(max(end + dim if end < 0 else end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step)


def convert_slice(node, params, layers, lambda_func, node_name, keras_name):
    """Constant starts/ends/axes/steps (attributes before opset 10, inputs after) as x[slices] (Keras' GetItem)."""
    values = inputs_of(node, layers) + [None] * 4
    x = values[0]
    # Before opset 10 the bounds are attributes (lists): as arrays they are constants like the inputs after.
    starts, ends, axes = (np.asarray(params[k]) if k in params else v for k, v in zip(("starts", "ends", "axes"),
                                                                                         values[1:4]))
    steps = values[4]
    if not all(v is None or is_const(v) for v in (starts, ends, axes, steps)):
        raise NotImplementedError("Slice with computed (non-constant) bounds")
    shape = static_shape(x)
    axes = range(len(starts)) if axes is None else [int(a) % len(shape) for a in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(s) for s in np.asarray(steps).reshape(-1)]
    index = [slice(None)] * len(shape)
    for axis, start, end, step in zip(axes, np.asarray(starts).reshape(-1), np.asarray(ends).reshape(-1), steps):
        index[axis] = _slice_of(shape[axis], start, end, step)
    layers[node_name] = const(x[tuple(index)]) if is_const(x) else x[tuple(index)]


def convert_split(node, params, layers, lambda_func, node_name, keras_name):
    values = inputs_of(node, layers) + [None]
    x = values[0]
    shape = static_shape(x)
    axis = int(params.get("axis", 0)) % len(shape)
    split = params.get("split", values[1])
    if split is None:
        count = int(params.get("num_outputs", len(node.output)))
        size = -(-shape[axis] // count)
        split = [min(size, shape[axis] - i * size) for i in range(count)]
    offsets = np.concatenate([[0], np.cumsum(np.asarray(split).reshape(-1))]).astype(int)
    for name, begin, end in zip(node.output, offsets[:-1], offsets[1:]):
        index = tuple([slice(None)] * axis + [slice(int(begin), int(end))])
        layers[name] = const(x[index]) if is_const(x) else x[index]


def convert_gather(node, params, layers, lambda_func, node_name, keras_name):
    """A constant 2-D table gathered on axis 0 by tensor ids is an Embedding layer (its table saved as a weight);
    otherwise keras.ops.take, constant indices made non-negative as ONNX reads them."""
    import keras

    data, indices = inputs_of(node, layers)
    axis = int(params.get("axis", 0)) % len(static_shape(data))
    if is_const(data) and is_const(indices):
        layers[node_name] = const(np.take(data, indices, axis=axis))
    elif is_const(data) and data.ndim == 2 and axis == 0:
        embed = keras.layers.Embedding(data.shape[0], data.shape[1], name=keras_name)
        layers[node_name] = embed(keras.ops.where(keras.ops.less(indices, 0), indices + data.shape[0], indices))
        embed.set_weights([data])
    else:
        if is_const(indices):
            indices = const(np.where(indices < 0, indices + static_shape(data)[axis], indices).astype(np.int32))
        layers[node_name] = keras.ops.take(_operand(data), indices, axis=axis)


def convert_gather_elements(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    data, indices = inputs_of(node, layers)
    axis = int(params.get("axis", 0)) % len(static_shape(data))
    if is_const(data) and is_const(indices):
        layers[node_name] = const(np.take_along_axis(data, indices, axis=axis))
        return
    dim = static_shape(data)[axis]
    indices = keras.ops.where(keras.ops.less(indices, 0), keras.ops.add(indices, dim), indices) \
        if not is_const(indices) else const(np.where(indices < 0, indices + dim, indices))
    layers[node_name] = keras.ops.take_along_axis(_operand(data), indices, axis=axis)


def convert_gather_nd(node, params, layers, lambda_func, node_name, keras_name):
    """GatherND with batch_dims 0: each index row [i0..ik-1] is one flat index into data viewed as
    [d0*...*dk-1, rest...], so keras.ops.take does it (negative indices wrapped as ONNX reads them)."""
    import keras

    data, indices = inputs_of(node, layers)
    if int(params.get("batch_dims", 0)):
        raise NotImplementedError("GatherND with batch_dims")
    if is_const(data) and is_const(indices):
        layers[node_name] = const(data[tuple(np.moveaxis(indices, -1, 0))])
        return
    shape = static_shape(data)
    k = static_shape(indices)[-1]
    strides = np.array([int(np.prod(shape[j + 1:k])) for j in range(k)], np.int64)
    dims = np.array(shape[:k], np.int64)
    flat_data = _operand(data).reshape([-1] + shape[k:]) if is_const(data) else \
        keras.ops.reshape(data, [int(np.prod(shape[:k]))] + shape[k:])
    if is_const(indices):
        flat = const((np.where(indices < 0, indices + dims, indices) * strides).sum(-1).astype(np.int32))
    else:
        wrapped = keras.ops.where(keras.ops.less(indices, 0), keras.ops.add(indices, const(dims)), indices)
        flat = keras.ops.sum(keras.ops.multiply(wrapped, const(strides)), axis=-1)
    layers[node_name] = keras.ops.take(flat_data, flat, axis=0)


def convert_expand(node, params, layers, lambda_func, node_name, keras_name):
    """ONNX Expand broadcasts both ways: the result has the broadcast of the input's and the given shape."""
    import keras

    x, shape = inputs_of(node, layers)
    target = list(np.broadcast_shapes(tuple(static_shape(x)), tuple(int(s) for s in shape)))
    layers[node_name] = const(np.broadcast_to(x, target)) if is_const(x) else keras.ops.broadcast_to(x, target)


def convert_range(node, params, layers, lambda_func, node_name, keras_name):
    start, limit, delta = inputs_of(node, layers)
    if not all(is_const(v) for v in (start, limit, delta)):
        raise NotImplementedError("Range with computed (non-constant) bounds")
    layers[node_name] = const(np.arange(start, limit, delta, dtype=np.asarray(start).dtype))


def convert_constant_of_shape(node, params, layers, lambda_func, node_name, keras_name):
    shape = layers[node.input[0]]
    if not is_const(shape):
        raise NotImplementedError("ConstantOfShape of a computed shape")
    value = params.get("value", np.zeros(1, np.float32))
    layers[node_name] = const(np.full([int(s) for s in shape], np.asarray(value).reshape(-1)[0], np.asarray(value).dtype))


def convert_pad(node, params, layers, lambda_func, node_name, keras_name):
    """constant/reflect/edge padding with keras.ops.pad (pads: begins of every axis, then ends)."""
    import keras

    values = inputs_of(node, layers) + [None, None, None]
    x = values[0]
    pads = params.get("pads", values[1])
    mode = params.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    value = values[2] if values[2] is not None else params.get("value", 0.0)
    if values[3] is not None or not is_const(np.asarray(pads)):
        raise NotImplementedError("Pad with axes or computed pads")
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    rank = len(pads) // 2
    width = [(pads[i], pads[i + rank]) for i in range(rank)]
    if any(p < 0 for p in pads):
        raise NotImplementedError("Pad with negative pads (cropping)")
    kind = {"constant": "constant", "reflect": "reflect", "edge": "edge"}[mode]
    extra = {"constant_values": float(np.asarray(value).reshape(-1)[0])} if kind == "constant" else {}
    layers[node_name] = keras.ops.pad(x, width, mode=kind, **extra)


SHAPE_CONVERTERS = {
    "Transpose": convert_transpose,
    "Shape": convert_shape, "Reshape": convert_reshape, "Flatten": convert_flatten, "Unsqueeze": convert_unsqueeze,
    "Squeeze": convert_squeeze, "Concat": convert_concat, "Slice": convert_slice, "Split": convert_split,
    "Gather": convert_gather, "GatherElements": convert_gather_elements, "GatherND": convert_gather_nd, "Expand": convert_expand,
    "Range": convert_range, "ConstantOfShape": convert_constant_of_shape, "Pad": convert_pad,
}
