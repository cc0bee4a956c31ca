"""Per-op profile of a tiny Keras CNN through the LiteRT C API profiler (libLiteRt.so of ai-edge-litert)."""

from __future__ import annotations

import math

import numpy as np
import pytest


def _tiny_cnn_tflite(path) -> None:
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.DepthwiseConv2D(3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10),
    ])
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def test_profile_tflite_per_op(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from edgepick.worker.litert_profile import profile_tflite

    model = tmp_path / "tiny.tflite"
    _tiny_cnn_tflite(model)
    x = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    records, tool = profile_tflite(str(model), 1, [x], 20)

    assert records, "no operator-level profiler events"
    assert "LiteRT" in tool
    for name, op_type, ms in records:
        assert name and op_type
        assert math.isfinite(ms) and ms >= 0
    assert sum(ms for *_, ms in records) > 0
    types = " ".join(op_type for _, op_type, _ in records).lower()
    assert "conv" in types  # XNNPACK "Convolution (NHWC, F32) ..." or builtin CONV_2D / DEPTHWISE_CONV_2D
    assert "fully" in types or "gemm" in types  # "Fully Connected (NC, F32) GEMM" or FULLY_CONNECTED


def test_profile_tflite_bad_input(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from edgepick.worker.litert_profile import profile_tflite

    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"not a flatbuffer" * 4)
    with pytest.raises(RuntimeError, match="LiteRtCreateModelFromFile"):
        profile_tflite(str(bogus), 1, [np.zeros((1, 4), np.float32)], 2)
    with pytest.raises(RuntimeError, match="no such"):
        profile_tflite(str(tmp_path / "missing.tflite"), 1, [], 2)
