"""Legacy Keras HDF5 files (.h5/.hdf5) as model inputs (issue 10, item 8): Keras' own loader, in safe mode.

Skipped where Keras and TensorFlow are not installed (`pip install 'edgepick[tensorflow]'`); `make test` has neither.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the reference is TensorFlow's (inputs/tf_models.py)
keras = pytest.importorskip("keras", reason="Keras is not installed: pip install 'edgepick[tensorflow]'")
pytest.importorskip("tensorflow", reason="TensorFlow is not installed: pip install 'edgepick[tensorflow]'")
pytest.importorskip("h5py", reason="h5py (Keras' HDF5 reader) is not installed")

import edgepick  # noqa: E402
from edgepick.core.errors import UserError  # noqa: E402
from edgepick.inputs.model import load_model  # noqa: E402


def _small(lambda_layer: bool = False):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    if lambda_layer:
        x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


@pytest.fixture
def h5_path(tmp_path):
    path = tmp_path / "small.h5"
    _small().save(path)  # Keras writes the legacy HDF5 format for a .h5 name
    return path


def test_h5_loads_with_keras_in_safe_mode(h5_path, tmp_path):
    spec = load_model(str(h5_path))
    assert spec.artifact.format == "keras" and spec.artifact.meta["trusted"] is False
    assert [(t.shape, t.dtype, t.batch_dynamic) for t in spec.signature.inputs] == [([None, 8, 8, 1], "float32", True)]
    hdf5 = tmp_path / "same.hdf5"
    hdf5.write_bytes(h5_path.read_bytes())
    assert load_model(str(hdf5)).signature.inputs[0].shape == [None, 8, 8, 1]


def test_lambda_layer_needs_trust(tmp_path):
    path = tmp_path / "lambda.h5"
    _small(lambda_layer=True).save(path)
    with pytest.raises(UserError, match="Lambda layer .* --trust-pickle"):
        load_model(str(path))
    assert load_model(str(path), trust_pickle=True).artifact.meta["trusted"] is True


def test_corrupt_h5_is_a_user_error(h5_path, tmp_path):
    bad = tmp_path / "cut.h5"
    bad.write_bytes(h5_path.read_bytes()[:200])  # the HDF5 signature, then nothing
    with pytest.raises(UserError, match="not a loadable Keras HDF5 model"):
        load_model(str(bad))
    noise = tmp_path / "noise.hdf5"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(UserError, match="not a loadable Keras HDF5 model"):
        load_model(str(noise))


@pytest.mark.slow
def test_h5_is_measured_by_tensorflow(home, h5_path, fast):
    run = edgepick.pick(str(h5_path), runtimes=["tensorflow"], batches=[1, 2], timing=fast)
    fp32 = [r for r in run.rows if r["precision"] == "fp32"]
    assert [r["status"] for r in fp32] == ["ok", "ok"], [r["reason"] for r in fp32]
    assert run.request["input_format"] == "keras" and fp32[0]["conversion"] == []
