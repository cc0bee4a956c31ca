"""Sparse-weight .tflite files (TFLite's sparsity format, made by the converter's EXPERIMENTAL_SPARSITY optimization)
through tf2onnx (convert/tflite_sparse.py). Before: "ValueError: cannot reshape array of size 7 into shape (8,1,1,4)"
from tf2onnx. After: the sparse tensors are densified first, the ONNX graph agrees with LiteRT on the sparse file,
and the artifact says the source was sparse."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from edgepick.convert.tflite_sparse import _dense_values
from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec


def _vector(values):
    return SimpleNamespace(values=values)


def test_block_sparse_tensor_is_expanded_as_tflite_does():
    """TFLite's own block-sparse example (sparsity_format_converter_test, 4 x 4 in 2 x 2 blocks, dim 0 dense, dim 1
    CSR): the values in traversal order back to the dense matrix."""
    dense, csr = SimpleNamespace(format=0, denseSize=2), SimpleNamespace(format=1, arraySegments=_vector([0, 2, 3]),
                                                                           arrayIndices=_vector([0, 1, 1]))
    sparsity = SimpleNamespace(traversalOrder=[0, 1, 2, 3], blockMap=[0, 1], dimMetadata=[dense, csr, dense, dense])
    values = np.array([1, 0, 0, 4, 2, 3, 0, 0, 5, 0, 0, 6], np.float32)
    tensor = SimpleNamespace(type=0, shape=[4, 4], sparsity=sparsity)
    expected = [[1, 0, 2, 3], [0, 4, 0, 0], [0, 0, 5, 0], [0, 0, 0, 6]]
    assert _dense_values(values.tobytes(), tensor).tolist() == expected


def _sparse_tflite(path):
    """A Conv 1x1 and a Dense layer whose kernels are 80% zeros, converted with EXPERIMENTAL_SPARSITY."""
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    inputs = tf.keras.Input((8, 8, 4), name="image")
    conv, dense = tf.keras.layers.Conv2D(8, 1), tf.keras.layers.Dense(16)
    outputs = dense(tf.keras.layers.Flatten()(tf.keras.layers.ReLU()(conv(inputs))))
    model = tf.keras.Model(inputs, outputs)
    for layer in (conv, dense):
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * (rng.random(kernel.shape) < 0.2), bias])
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    path.write_bytes(converter.convert())


def _litert(path, x):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    interpreter = litert.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    sparse = [d for d in interpreter.get_tensor_details() if d.get("sparsity_parameters")]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), len(sparse)


def test_sparse_tflite_converts_to_onnx_and_agrees_with_litert(tmp_path):
    tf2onnx = pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    from edgepick.convert.chain import convert_along

    source = tmp_path / "sparse.tflite"
    _sparse_tflite(source)
    x = np.random.default_rng(1).standard_normal((1, 8, 8, 4)).astype(np.float32)
    want, sparse_tensors = _litert(source, x)
    assert sparse_tensors >= 2  # the converter did write the sparsity format
    with pytest.raises(ValueError, match="cannot reshape"):  # what tf2onnx does with it unaided
        tf2onnx.convert.from_tflite(str(source), opset=17, output_path=str(tmp_path / "plain.onnx"))

    signature = Signature([TensorSpec("image", [1, 8, 8, 4], "float32")])
    final, _ = convert_along(["tf2onnx"], Artifact("tflite", str(source)), signature, tmp_path / "cache")
    assert final.meta["source_sparse_tensors"] == sparse_tensors and "sparse" in final.meta["note"]
    session = ort.InferenceSession(final.path, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
