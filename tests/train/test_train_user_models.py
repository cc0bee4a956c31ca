"""`edgepick train` on a user's own model: a module:callable returning a PyTorch nn.Module or a Keras 3 model, and a
.keras file; real trainings of small models on the digits data; a framework that cannot train the model is a row."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from edgepick.core.errors import UserError
from edgepick.train.config import TrainConfig
from edgepick.train.runner import execute

pytest.importorskip("torch")

MODELS = textwrap.dedent('''
    def torch_mlp():
        import torch
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))

    def keras_cnn():
        import keras
        from keras import layers
        inputs = keras.Input((8, 8, 1))
        x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        return keras.Model(inputs, layers.Dense(10)(layers.Flatten()(x)))

    def not_a_model():
        return 42
''')


@pytest.fixture
def user_models(home, tmp_path):
    (tmp_path / "ep_user_models.py").write_text(MODELS)  # `home` made tmp_path the working directory
    yield tmp_path
    sys.modules.pop("ep_user_models", None)


def _config(home, model, frameworks, **kw) -> TrainConfig:
    base = dict(model=model, frameworks=frameworks, seeds=2, epochs=2, threads=1, db_url=f"sqlite:///{home / 'r.db'}")
    return TrainConfig(**{**base, **kw})


def _rows(run) -> dict:
    return {r["framework"]: r for r in run.rows}


def test_user_model_mistakes_are_one_clear_line(user_models, home):
    with pytest.raises(UserError, match="no such Keras model file"):
        _config(home, "missing.keras", ["pytorch"]).validate()
    with pytest.raises(UserError, match="module:callable"):
        _config(home, "not a model:x-y", ["pytorch"]).validate()


def test_torch_module_trains_on_pytorch_and_a_non_model_is_a_row(user_models, home):
    rows = _rows(execute(_config(home, "ep_user_models:torch_mlp", ["pytorch", "mxnet"])))
    assert rows["mxnet"]["status"] == "failed" and "MXNet Gluon loads neither" in rows["mxnet"]["reason"]
    row = rows["pytorch"]
    assert row["status"] == "ok", row.get("reason")
    assert "no common definition" in row["equivalence"]["skipped"]
    assert len(row["seeds"]) == 2 and 0.3 < row["final_accuracy"] <= 1.0  # it learned (chance is 0.1)
    assert row["step_ms"]["n"] == 2 * 2 * (1437 // 64)
    bad = _rows(execute(_config(home, "ep_user_models:not_a_model", ["pytorch"], seeds=1, epochs=1)))["pytorch"]
    assert bad["status"] == "failed" and bad["reason_class"] == "load-error" and "returned int" in bad["reason"]


@pytest.mark.slow
def test_torch_module_on_keras_torch_backend_and_not_on_jax(user_models, home):
    pytest.importorskip("keras")
    pytest.importorskip("jax")
    rows = _rows(execute(_config(home, "ep_user_models:torch_mlp", ["keras-torch", "keras-jax"])))
    assert rows["keras-torch"]["status"] == "ok", rows["keras-torch"].get("reason")  # through TorchModuleWrapper
    assert rows["keras-torch"]["final_accuracy"] > 0.3
    assert rows["keras-jax"]["status"] == "failed" and "TorchModuleWrapper" in rows["keras-jax"]["reason"]


@pytest.mark.slow
def test_keras_file_trains_on_every_keras_backend_and_pytorch_says_why_not(user_models, home, tmp_path):
    pytest.importorskip("keras")
    pytest.importorskip("tensorflow")
    pytest.importorskip("jax")
    path = tmp_path / "cnn.keras"
    save = f"import ep_user_models; ep_user_models.keras_cnn().save({str(path)!r})"
    subprocess.run([sys.executable, "-c", save], check=True, cwd=tmp_path, timeout=300,
                   env=dict(os.environ, KERAS_BACKEND="jax"))
    names = ["keras-tensorflow", "keras-jax", "keras-torch", "pytorch"]
    rows = _rows(execute(_config(home, str(path), names)))
    for name in names[:3]:
        assert rows[name]["status"] == "ok", (name, rows[name].get("reason"))
        assert rows[name]["final_accuracy"] > 0.3 and rows[name]["step_ms"]["p50"] > 0
    assert rows["pytorch"]["status"] == "failed" and "PyTorch has no loader" in rows["pytorch"]["reason"]
