"""TensorFlow / Keras / LiteRT / Keras-on-JAX: every converter checked for equivalence on a tiny model made here,
and the runtimes run through the real worker. Heavy (TensorFlow imports in ~5 s): marked slow, run by `make test-all`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from edgepick.convert.base import ConvertContext
from edgepick.core import errors
from edgepick.core.artifact import Artifact

pytestmark = pytest.mark.slow

X = np.random.default_rng(0).standard_normal((3, 8, 8, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def keras_model(tmp_path_factory):
    """A tiny Keras CNN (NHWC) saved as .keras, and its own predictions on X (the truth every path must match)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(10)(x)
    model = keras.Model(inp, out)
    path = tmp_path_factory.mktemp("keras") / "tiny.keras"
    model.save(path)
    return path, np.asarray(model(X, training=False))


def _litert_outputs(artifact, x):
    from edgepick.runtimes.litert import LiteRt

    session = LiteRt().load(artifact, 1)
    return session.to_numpy(session.run(session.prepare({"image": x} if x.shape[-1] == 1 else {"input": x})))[0], session


def test_keras_input_signature_and_tensorflow_reference(keras_model):
    from edgepick.inputs.model import load_model
    from edgepick.worker.reference import reference_outputs

    path, truth = keras_model
    spec = load_model(str(path))
    assert spec.artifact.format == "keras"
    assert spec.signature.names == ["image"]
    assert spec.signature.inputs[0].shape == [None, 8, 8, 1] and spec.signature.inputs[0].batch_dynamic
    label, outs = reference_outputs(spec, {"image": X}, 1)
    assert label.startswith("TensorFlow")
    np.testing.assert_allclose(outs[0], truth, rtol=1e-5, atol=1e-5)


def test_savedmodel_directory_is_an_input(keras_model, tmp_path):
    import keras

    from edgepick.inputs.model import load_model
    from edgepick.worker.reference import reference_outputs

    path, truth = keras_model
    saved = tmp_path / "saved"
    keras.saving.load_model(path).export(str(saved), verbose=False)
    spec = load_model(str(saved))
    assert spec.artifact.format == "tf-savedmodel" and spec.signature.inputs[0].shape[1:] == [8, 8, 1]
    _, outs = reference_outputs(spec, {spec.signature.names[0]: X}, 1)
    np.testing.assert_allclose(outs[0], truth, rtol=1e-5, atol=1e-5)


def test_tf2onnx_keras_to_onnx_matches(keras_model, tmp_path):
    pytest.importorskip("tf2onnx")
    ort = pytest.importorskip("onnxruntime")
    from edgepick.convert.tf_to_onnx import TfToOnnx
    from edgepick.inputs.model import load_model

    path, truth = keras_model
    spec = load_model(str(path))
    onnx_art = TfToOnnx().convert(spec.artifact, ConvertContext(spec.signature, tmp_path))
    got = ort.InferenceSession(onnx_art.path, providers=["CPUExecutionProvider"]).run(None, {"image": X})[0]
    np.testing.assert_allclose(got, truth, rtol=1e-4, atol=1e-5)  # batch 3 through a dynamic batch dim


def test_tf_converter_keras_to_tflite_matches_and_uses_xnnpack(keras_model, tmp_path):
    pytest.importorskip("ai_edge_litert")
    from edgepick.convert.tf_to_tflite import TfToTflite
    from edgepick.inputs.model import load_model

    path, truth = keras_model
    spec = load_model(str(path))
    art = TfToTflite().convert(spec.artifact, ConvertContext(spec.signature, tmp_path))
    got, _ = _litert_outputs(art, X)  # batch 3: the .tflite kept the dynamic batch, LiteRT resizes
    np.testing.assert_allclose(got, truth, rtol=1e-4, atol=1e-5)
    # TFLite logs the delegate's creation once per process, so ask a fresh process, as a worker would be.
    code = ("import json, sys; from edgepick.core.artifact import Artifact; from edgepick.runtimes.litert import LiteRt; "
            "print(json.dumps(LiteRt().load(Artifact.from_dict(json.loads(sys.argv[1])), 1).details))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(art.to_dict())], capture_output=True, text=True,
                          check=True)
    assert json.loads(proc.stdout.strip().splitlines()[-1])["delegate"].startswith("XNNPACK")


def test_litert_torch_converts_pytorch_and_refuses_other_batches(tmp_path):
    pytest.importorskip("litert_torch")
    torch = pytest.importorskip("torch")
    from edgepick.convert.torch_to_litert import TorchToLitert
    from edgepick.inputs.signature import Signature, TensorSpec
    from edgepick.runtimes.litert import LiteRt

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(256, 10)).eval()
    sig = Signature([TensorSpec("input", [1, 1, 8, 8], "float32", batch_dynamic=True)])
    art = TorchToLitert().convert(Artifact("torch-module", ""), ConvertContext(sig, tmp_path, module))
    x = np.random.default_rng(1).standard_normal((1, 1, 8, 8)).astype(np.float32)
    session = LiteRt().load(art, 1)
    got = session.to_numpy(session.run(session.prepare({"input": x})))[0]
    np.testing.assert_allclose(got, module(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-5)
    if art.meta["static_batch"] == 1:  # litert-torch could not keep the batch dynamic (Flatten): say so, never guess
        with pytest.raises(errors.CandidateFailure) as failure:
            session.prepare({"input": np.zeros((4, 1, 8, 8), np.float32)})
        assert failure.value.reason_class == errors.UNSUPPORTED_SHAPE


def test_onnx2tf_in_its_own_env_matches(tiny_onnx, tmp_path):
    from edgepick.core import envs

    if not envs.is_ready("onnx2tf"):
        pytest.skip("the onnx2tf env is absent: edgepick env create onnx2tf")
    ort = pytest.importorskip("onnxruntime")
    from edgepick.convert.onnx_to_tflite import OnnxToTflite
    from edgepick.inputs.signature import Signature, TensorSpec

    sig = Signature([TensorSpec("input", [1, 1, 8, 8], "float32", batch_dynamic=True)])
    art = OnnxToTflite().convert(Artifact("onnx", str(tiny_onnx)), ConvertContext(sig, tmp_path))
    x = np.random.default_rng(2).standard_normal((1, 1, 8, 8)).astype(np.float32)
    got, _ = _litert_outputs(art, x)
    want = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_tensorflow_keras_jax_and_litert_measured_in_workers(keras_model, home, fast):
    pytest.importorskip("jax")
    pytest.importorskip("ai_edge_litert")
    import edgepick

    path, _ = keras_model
    run = edgepick.pick(str(path), runtimes=["tensorflow", "keras-jax", "litert", "torch-eager"], threads=1, timing=fast)
    rows = {r["runtime"]: r for r in run.rows if r["precision"] == "fp32"}  # BF16 rows too where the CPU has BF16
    for name in ("tensorflow", "keras-jax", "litert"):
        assert rows[name]["status"] == "ok", rows[name]["reason"]
        assert rows[name]["equivalence"]["max_abs_err"] < 1e-4
        assert rows[name]["compile_s"] is not None or name == "litert"
    assert rows["litert"]["conversion"][0]["converter"] == "tf-to-tflite"
    assert rows["litert"]["runtime_details"]["delegate"].startswith("XNNPACK")
    # a Keras model reaches PyTorch through ONNX (tf2onnx, then onnx2torch), checked step by step like any copy
    assert rows["torch-eager"]["status"] == "ok", rows["torch-eager"]["reason"]
    assert [step["converter"] for step in rows["torch-eager"]["conversion"]] == ["tf2onnx", "onnx2torch"]
    assert rows["torch-eager"]["equivalence"]["max_abs_err"] < 1e-4


def test_mxnet_runs_onnx_in_its_own_env(tiny_onnx, home, fast):
    from edgepick.core import envs

    if not envs.is_ready("mxnet"):
        pytest.skip("the mxnet env is absent: edgepick env create mxnet")
    import edgepick

    run = edgepick.pick(str(tiny_onnx), runtimes=["mxnet"], threads=1, timing=fast)
    row = run.rows[0]
    assert row["status"] == "ok", row["reason"]
    assert row["equivalence"]["max_abs_err"] < 1e-4
