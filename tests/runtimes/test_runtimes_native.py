"""OpenCV DNN (ONNX and Darknet), ncnn through pnnx, and TVM: each converter and runtime checked on a tiny model."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from edgepick.convert.base import ConvertContext
from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec

SIG = Signature([TensorSpec("input", [1, 1, 8, 8], "float32", batch_dynamic=True)])


def _ort_reference(path, x):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def _run(runtime_cls, artifact, x):
    session = runtime_cls().load(artifact, 1)
    try:
        return session.to_numpy(session.run(session.prepare({"input": x})))[0]
    finally:
        session.close()


def test_opencv_dnn_runs_onnx_like_onnxruntime(tiny_onnx):
    pytest.importorskip("cv2")
    from edgepick.runtimes.opencv_dnn import OpenCvDnn

    x = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    got = _run(OpenCvDnn, Artifact("onnx", str(tiny_onnx), {"input_names": ["input"]}), x)
    np.testing.assert_allclose(got, _ort_reference(tiny_onnx, x), rtol=1e-4, atol=1e-5)


def _conv3x3_same(x, weight, bias):
    """The expected answer computed independently: a 3x3, pad-1, single-input-channel convolution in numpy."""
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((x.shape[0], weight.shape[0], x.shape[2], x.shape[3]), np.float32)
    for o in range(weight.shape[0]):
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                out[:, o, i, j] = (padded[:, 0, i:i + 3, j:j + 3] * weight[o, 0]).sum(axis=(1, 2)) + bias[o]
    return out


DARKNET_CFG = """[net]
batch=1
width=6
height=6
channels=1

[convolutional]
batch_normalize=0
filters=2
size=3
stride=1
pad=1
activation=linear
"""


def test_darknet_model_through_opencv_matches_a_numpy_convolution(tmp_path):
    """A real Darknet pair (.cfg + .weights in Darknet's binary layout), detected by inputs/model.py, run by OpenCV DNN."""
    pytest.importorskip("cv2")
    from edgepick.inputs.model import load_model
    from edgepick.runtimes.opencv_dnn import OpenCvDnn

    rng = np.random.default_rng(3)
    bias = rng.standard_normal(2).astype(np.float32)
    weight = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    (tmp_path / "tiny.cfg").write_text(DARKNET_CFG)
    # header: major, minor, revision (int32), seen (int64 since 0.2); then conv biases and weights (no batchnorm)
    (tmp_path / "tiny.weights").write_bytes(struct.pack("<iiiq", 0, 2, 0, 0) + bias.tobytes() + weight.tobytes())
    spec = load_model(str(tmp_path / "tiny.cfg"))
    assert spec.artifact.format == "darknet" and spec.signature.inputs[0].shape == [1, 1, 6, 6]
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    got = _run(OpenCvDnn, spec.artifact, x)
    np.testing.assert_allclose(got, _conv3x3_same(x, weight, bias), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_pnnx_to_ncnn_is_equivalent(tiny_onnx, tmp_path):
    pytest.importorskip("pnnx")
    pytest.importorskip("ncnn")
    from edgepick.convert.to_ncnn import Pnnx
    from edgepick.runtimes.ncnn import Ncnn

    art = Pnnx().convert(Artifact("onnx", str(tiny_onnx)), ConvertContext(SIG, tmp_path))
    assert art.format == "ncnn" and art.meta["weights"].endswith(".bin")
    x = np.random.default_rng(4).standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(Ncnn, art, x), _ort_reference(tiny_onnx, x), rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_onnx_to_tvm_is_equivalent(tiny_onnx, tmp_path):
    from edgepick.runtimes.tvm import Tvm

    if Tvm.unavailable_reason():
        pytest.skip(Tvm.unavailable_reason())
    from edgepick.convert.onnx_to_tvm import OnnxToTvm

    art = OnnxToTvm().convert(Artifact("onnx", str(tiny_onnx)), ConvertContext(SIG, tmp_path))
    assert art.format == "tvm-relax" and art.meta["mcpu"]
    Tvm().import_framework()
    x = np.random.default_rng(5).standard_normal((3, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(Tvm, art, x), _ort_reference(tiny_onnx, x), rtol=1e-4, atol=1e-5)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:  # a length-delimited protobuf field (wire type 2)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _blob(array: np.ndarray) -> bytes:
    """caffe.BlobProto: shape (7) = BlobShape{dim (1), packed int64}, data (5), packed float."""
    dims = b"".join(_varint(d) for d in array.shape)
    return _field(7, _field(1, dims)) + _field(5, array.astype("<f4").tobytes())


CAFFE_PROTOTXT = """name: "tiny"
input: "data"
input_dim: 1
input_dim: 1
input_dim: 6
input_dim: 6
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 2 kernel_size: 3 pad: 1 } }
"""


def test_caffe_model_through_opencv_matches_a_numpy_convolution(tmp_path):
    """A real Caffe pair: the .caffemodel is a NetParameter protobuf written here field by field."""
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2.dnn, "readNetFromCaffe"):
        pytest.skip(f"OpenCV {cv2.__version__} has no Caffe importer (removed in 5.0)")
    from edgepick.inputs.model import load_model
    from edgepick.runtimes.opencv_dnn import OpenCvDnn

    rng = np.random.default_rng(6)
    weight = rng.standard_normal((2, 1, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(2).astype(np.float32)
    layer = _field(1, b"conv") + _field(2, b"Convolution") + _field(7, _blob(weight)) + _field(7, _blob(bias))
    (tmp_path / "tiny.prototxt").write_text(CAFFE_PROTOTXT)
    (tmp_path / "tiny.caffemodel").write_bytes(_field(1, b"tiny") + _field(100, layer))
    spec = load_model(str(tmp_path / "tiny.prototxt"))
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    session = OpenCvDnn().load(spec.artifact, 1)
    got = session.to_numpy(session.run(session.prepare({"data": x})))[0]
    np.testing.assert_allclose(got, _conv3x3_same(x, weight, bias), rtol=1e-4, atol=1e-4)
