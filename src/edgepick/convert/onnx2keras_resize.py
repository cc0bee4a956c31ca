"""ONNX Resize / Upsample for onnx2keras as matrix products: exact for every coordinate mode ONNX Runtime implements.

onnx2keras 0.0.25 maps Resize to UpSampling2D, which only repeats pixels (nearest, integer scales, one coordinate
convention) and refuses linear mode, which TFLite models converted by tf2onnx use (half_pixel bilinear). Keras'
own image resizing follows each backend's convention, not ONNX's attributes. Along one axis, a resize of a fixed-size
input is linear in it: out = A @ in, with A [out, in] built in numpy from ONNX's formulas (coordinate transform,
then nearest rounding or two-tap linear weights, the coordinate clamped to the input as ONNX Runtime does). Each
resized axis is one keras.ops.matmul with A saved as a constant: no Lambda, and the same on every backend.
"""

from __future__ import annotations

import numpy as np

from edgepick.convert.onnx2keras_math import CONTEXT, const, inputs_of, is_const, static_shape


def _source(mode: str, out_size: int, in_size: int, scale: float) -> np.ndarray:
    """The input coordinate of each output position (ONNX Resize's coordinate_transformation_mode)."""
    x = np.arange(out_size, dtype=np.float64)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if out_size > 1 else np.zeros(out_size)
    if mode == "align_corners":
        return x * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros(out_size)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    raise NotImplementedError(f"Resize with coordinate_transformation_mode {mode}")


def _nearest(source: np.ndarray, rounding: str) -> np.ndarray:
    if rounding == "round_prefer_floor":
        return np.where(source - np.floor(source) == 0.5, np.floor(source), np.round(source))
    if rounding == "round_prefer_ceil":
        return np.where(source - np.floor(source) == 0.5, np.ceil(source), np.round(source))
    if rounding in ("floor", "ceil"):
        return getattr(np, rounding)(source)
    raise NotImplementedError(f"Resize with nearest_mode {rounding}")


def interpolation_matrix(params: dict, out_size: int, in_size: int, scale: float) -> np.ndarray:
    """A [out_size, in_size] with out = A @ in along one axis."""
    text = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in params.items()}
    mode = text.get("mode", "nearest")
    source = _source(text.get("coordinate_transformation_mode", "half_pixel"), out_size, in_size, scale)
    matrix = np.zeros((out_size, in_size), np.float64)
    rows = np.arange(out_size)
    if mode == "nearest":
        index = np.clip(_nearest(source, text.get("nearest_mode", "round_prefer_floor")), 0, in_size - 1).astype(int)
        matrix[rows, index] = 1.0
    elif mode == "linear":
        source = np.clip(source, 0, in_size - 1)
        low = np.floor(source).astype(int)
        high = np.minimum(low + 1, in_size - 1)
        frac = source - low
        np.add.at(matrix, (rows, low), 1.0 - frac)
        np.add.at(matrix, (rows, high), frac)
    else:
        raise NotImplementedError(f"Resize with mode {mode}")
    return matrix.astype(np.float32)


def _sizes(node, params, layers, shape):
    """(output sizes, scales) from Upsample's scales (input 1), or Resize's scales (input 2) or sizes (input 3)."""
    values = inputs_of(node, layers) + [None, None, None]
    scales = values[1] if node.op_type == "Upsample" else values[2]
    scales = params.get("scales", scales)
    sizes = values[3] if node.op_type == "Resize" else None
    if sizes is not None and np.size(sizes):
        sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
        return sizes, [o / i for o, i in zip(sizes, shape)]
    if scales is None or not is_const(np.asarray(scales)) or not np.size(scales):
        raise NotImplementedError("Resize without constant scales or sizes")
    scales = [float(s) for s in np.asarray(scales).reshape(-1)]
    return [int(np.floor(d * s)) for d, s in zip(shape, scales)], scales


def convert_resize(node, params, layers, lambda_func, node_name, keras_name):
    import keras

    x = layers[node.input[0]]
    shape = static_shape(x)
    sizes, scales = _sizes(node, params, layers, shape)
    if params.get("antialias", 0) or params.get("axes") is not None:
        raise NotImplementedError("Resize with antialias or axes")
    rank = len(shape)
    for axis in range(rank):
        if sizes[axis] == shape[axis] and scales[axis] == 1.0:
            continue
        if axis < rank - 2:
            raise NotImplementedError(f"Resize of axis {axis} of a rank-{rank} tensor")
        matrix = interpolation_matrix(_legacy(node, params, scales[axis]), sizes[axis], shape[axis], scales[axis])
        if axis == rank - 1:
            x = keras.ops.matmul(x, const(matrix.T))
        else:
            x = keras.ops.matmul(const(matrix), x)
    layers[node_name] = x


def _legacy(node, params, scale):
    """Upsample and opset-10 Resize have no coordinate attributes: ONNX Runtime reads them as asymmetric, nearest
    rounding down when enlarging and up when shrinking ("simple" mode)."""
    if node.op_type == "Resize" and CONTEXT["opset"] >= 11:
        return params
    return {**params, "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor" if scale >= 1 else "ceil"}


RESIZE_CONVERTERS = {"Resize": convert_resize, "Upsample": convert_resize}
