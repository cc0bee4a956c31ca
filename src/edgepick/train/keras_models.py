"""The zoo architectures as Keras 3 models, layer for layer the same as the PyTorch definitions in edgepick.zoo.

Keras runs channels-last (NHWC; TensorFlow's CPU kernels have no NCHW max-pool), so inputs are H x W x C here.
Two details keep the arithmetic identical to PyTorch's: a 3x3 convolution with stride 2 pads one pixel on every side
in PyTorch, while Keras' padding="same" pads only bottom/right on even inputs, so those layers get an explicit
ZeroPadding2D and padding="valid"; and BatchNormalization uses PyTorch's epsilon (1e-5) and momentum (0.1 there
means 0.9 here).
"""

from __future__ import annotations


def build(name: str, input_hwc: tuple[int, int, int], num_classes: int = 10):
    if name == "digits-cnn":
        return digits_cnn(input_hwc, num_classes)
    if name == "mobilenetv2-like":
        return mobilenet_v2_like(input_hwc, num_classes)
    raise ValueError(f"no Keras definition of {name}")


def digits_cnn(input_hwc=(8, 8, 1), num_classes: int = 10, width: int = 16):
    import keras
    from keras import layers

    inputs = keras.Input(input_hwc, name="input")
    x = layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(2 * width, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="digits_cnn")


# (expansion t, channels c, repeats n, first stride s): the same plan as edgepick.zoo.mobilenet (the paper's Table 2).
_PLAN = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _conv_bn(x, cout, kernel, stride, depthwise=False, act=True):
    from keras import layers

    if kernel > 1:  # PyTorch's symmetric padding=kernel//2, for stride 1 and 2 alike
        x = layers.ZeroPadding2D(kernel // 2)(x)
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, stride, padding="valid", use_bias=False)(x)
    else:
        x = layers.Conv2D(cout, kernel, stride, padding="valid", use_bias=False)(x)
    x = layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)
    return layers.ReLU(max_value=6.0)(x) if act else x


def _inverted_residual(x, cin, cout, stride, expand):
    from keras import layers

    hidden = cin * expand
    y = _conv_bn(x, hidden, 1, 1) if expand != 1 else x
    y = _conv_bn(y, hidden, 3, stride, depthwise=True)
    y = _conv_bn(y, cout, 1, 1, act=False)
    return layers.Add()([x, y]) if stride == 1 and cin == cout else y


def mobilenet_v2_like(input_hwc=(96, 96, 3), num_classes: int = 1000):
    import keras
    from keras import layers

    inputs = keras.Input(input_hwc, name="input")
    x = _conv_bn(inputs, 32, 3, 2)
    cin = 32
    for t, c, n, s in _PLAN:
        for i in range(n):
            x = _inverted_residual(x, cin, c, s if i == 0 else 1, t)
            cin = c
    x = _conv_bn(x, 1280, 1, 1)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="mobilenetv2_like")
