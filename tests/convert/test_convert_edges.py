"""The converter edges added for reach: ONNX -> PyTorch (onnx2torch), ONNX -> SavedModel (onnx2tf), ONNX -> Keras 3
(onnx2keras), TorchScript archive -> ONNX. Each on a real small model, checked against ONNX Runtime or TorchScript,
and through the step-by-step equivalence check where the edge is an intermediate step."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from edgepick.convert.chain import convert_along
from edgepick.convert.stepcheck import check_steps
from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec
from edgepick.measure.equivalence import Tolerance

SIG = Signature([TensorSpec("input", [1, 1, 8, 8], "float32", batch_dynamic=True)])


@pytest.fixture
def dynamo_onnx(tmp_path):
    """A small CNN exported by the dynamo exporter (opset 18+, Reshape with allowzero=1): what torch users hand over."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 4, 10)).eval()
    path = tmp_path / "cnn.onnx"
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.onnx.export(model, (torch.randn(1, 1, 8, 8),), input_names=["input"], dynamic_shapes=({0: batch},),
                      dynamo=True).save(str(path))
    return path


def _ort(path, x):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def _x(batch=8):
    return np.random.default_rng(3).standard_normal((batch, 1, 8, 8)).astype(np.float32)


def _env_ready(name):
    from edgepick.core import envs

    if not envs.is_ready(name):
        pytest.skip(f"the {name} env is absent: edgepick env create {name}")


def test_onnx2torch_reaches_torch_export_and_torchscript(dynamo_onnx, tmp_path):
    import importlib.util

    if importlib.util.find_spec("onnx2torch") is None:  # importorskip would import it, and it imports torchvision
        pytest.skip("onnx2torch is not installed: pip install --no-deps onnx2torch==1.5.15")
    import torch

    path = ["onnx2torch", "torch-to-torchscript"]
    final, steps = convert_along(path, Artifact("onnx", str(dynamo_onnx)), SIG, tmp_path / "cache")
    x = _x()
    want = _ort(dynamo_onnx, x)
    exported = Artifact.from_dict(json.loads((tmp_path / "cache" / "onnx2torch" / "artifact.json").read_text())["artifact"])
    assert exported.format == "torch-exported" and exported.meta["static_batch"] is None  # the batch stays dynamic
    got = torch.export.load(exported.path).module()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    check_steps(path, steps, tmp_path / "cache", {"input": x}, [want], Tolerance())
    assert steps[0]["equivalence"]["checked"] and steps[0]["equivalence"]["agrees"]
    assert final.format == "torchscript"


def test_torchscript_archive_converts_to_onnx(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(108, 5))
    archive = tmp_path / "model.jit"
    torch.jit.save(torch.jit.trace(model.eval(), torch.randn(1, 1, 8, 8)), str(archive))
    final, _ = convert_along(["torchscript-to-onnx"], Artifact("torchscript", str(archive)), SIG, tmp_path / "cache")
    x = _x()
    with torch.no_grad():
        want = torch.jit.load(str(archive))(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(_ort(final.path, x), want, rtol=1e-4, atol=1e-5)  # batch 8 through a batch-1 trace


@pytest.mark.slow
def test_onnx2tf_savedmodel_runs_on_tensorflow_at_any_batch(dynamo_onnx, tmp_path):
    _env_ready("onnx2tf")
    pytest.importorskip("tensorflow")
    from edgepick.runtimes.tensorflow import TfSession, tf_callable

    before = hashlib.sha256(dynamo_onnx.read_bytes()).hexdigest()
    final, _ = convert_along(["onnx2tf-savedmodel"], Artifact("onnx", str(dynamo_onnx)), SIG, tmp_path / "cache")
    assert final.format == "tf-savedmodel"
    # onnx2tf overwrites the file it is given with its simplified graph: the user's model must stay as it was
    assert hashlib.sha256(dynamo_onnx.read_bytes()).hexdigest() == before
    session = TfSession(*tf_callable(final))
    for batch in (1, 8):
        x = _x(batch)
        got = session.to_numpy(session.run(session.prepare({"input": x})))[0]
        np.testing.assert_allclose(got, _ort(dynamo_onnx, x), rtol=1e-4, atol=1e-5)


def _keras_on_jax(path: str, x: np.ndarray) -> np.ndarray:
    """Load the .keras file in a fresh process on the JAX backend, in safe mode, and run it."""
    code = ("import sys, numpy as np, keras; m = keras.saving.load_model(sys.argv[1], compile=False, safe_mode=True); "
            "assert keras.backend.backend() == 'jax'; np.save(sys.argv[3], np.asarray(m(np.load(sys.argv[2]))))")
    np.save(path + ".x.npy", x)
    done = subprocess.run([sys.executable, "-c", code, path, path + ".x.npy", path + ".y.npy"], capture_output=True,
                          text=True, env=dict(os.environ, KERAS_BACKEND="jax"), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return np.load(path + ".y.npy")


@pytest.mark.slow
def test_onnx2keras_builds_a_backend_agnostic_keras_model(dynamo_onnx, tmp_path):
    _env_ready("onnx2tf")
    pytest.importorskip("jax")
    pytest.importorskip("keras")
    final, _ = convert_along(["onnx2keras"], Artifact("onnx", str(dynamo_onnx)), SIG, tmp_path / "cache")
    assert final.format == "keras"
    x = _x()
    np.testing.assert_allclose(_keras_on_jax(final.path, x), _ort(dynamo_onnx, x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_onnx2keras_says_which_ops_are_not_backend_agnostic(tmp_path):
    _env_ready("onnx2tf")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from edgepick.core import errors

    # LRN: one of the ops onnx2keras still builds as a TensorFlow Lambda (edgepick replaces Exp and most others)
    graph = helper.make_graph([helper.make_node("LRN", ["input"], ["y"], size=3, alpha=1e-4, beta=0.75, bias=1.0)], "exp",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, 8, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "exp.onnx"))
    with pytest.raises(errors.CandidateFailure) as failure:
        convert_along(["onnx2keras"], Artifact("onnx", str(tmp_path / "exp.onnx")), SIG, tmp_path / "cache")
    assert "LRN" in failure.value.message and "backend-agnostic" in failure.value.message


@pytest.mark.slow
def test_onnx_input_is_measured_on_the_pytorch_family_tensorflow_and_keras_jax(dynamo_onnx, home, fast):
    """End to end through the sweep: every runtime these edges open up for ONNX input gives an agreeing row."""
    import importlib.util

    _env_ready("onnx2tf")
    if importlib.util.find_spec("onnx2torch") is None:
        pytest.skip("onnx2torch is not installed: pip install --no-deps onnx2torch==1.5.15")
    import edgepick
    from edgepick.core.registry import RUNTIMES

    wanted = ["torch-eager", "torch-compile", "torchscript", "executorch", "tensorflow", "keras-jax"]
    usable = [name for name in wanted if not RUNTIMES.get(name).unavailable_reason()]
    run = edgepick.pick(str(dynamo_onnx), runtimes=usable, threads=[1], batches=[1], timing=fast)
    for row in run.rows:
        assert row["status"] == "ok", f"{row['key']}: {row['reason']}"
    paths = {row["runtime"]: [s["converter"] for s in row["conversion"]] for row in run.rows}
    assert paths.get("torch-eager", ["onnx2torch"]) == ["onnx2torch"]
    assert paths.get("tensorflow", ["onnx2tf-savedmodel"]) == ["onnx2tf-savedmodel"]
    assert paths.get("keras-jax", ["onnx2keras"]) == ["onnx2keras"]


@pytest.mark.slow
def test_onnx2tf_savedmodel_gives_4d_outputs_back_channels_first(tmp_path):
    """onnx2tf returns feature maps channels-last; the SavedModel edge transposes them back to the ONNX layout."""
    _env_ready("onnx2tf")
    pytest.importorskip("tensorflow")
    torch = pytest.importorskip("torch")
    from edgepick.runtimes.tensorflow import TfSession, tf_callable

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.ReLU()).eval()
    path = tmp_path / "feature_map.onnx"
    torch.onnx.export(model, (torch.randn(1, 1, 8, 8),), str(path), input_names=["input"],
                      dynamic_axes={"input": {0: "batch"}}, dynamo=False)
    final, _ = convert_along(["onnx2tf-savedmodel"], Artifact("onnx", str(path)), SIG, tmp_path / "cache")
    assert final.meta["outputs_transposed_to_channels_first"]
    session = TfSession(*tf_callable(final))
    x = _x(2)
    got = session.to_numpy(session.run(session.prepare({"input": x})))[0]
    assert got.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(got, _ort(path, x), rtol=1e-4, atol=1e-5)
