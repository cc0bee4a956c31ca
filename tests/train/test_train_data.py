"""`edgepick train --data`: an .npz with x/y (NHWC or NCHW), an image folder, and the mistakes a user can fix;
real small trainings (PyTorch; one Keras backend in the slow test)."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from edgepick.core.errors import UserError
from edgepick.train.config import TrainConfig
from edgepick.train.runner import execute
from edgepick.train.user_data import split

pytest.importorskip("torch")
sklearn = pytest.importorskip("sklearn.datasets")


def _config(home, data, **kw) -> TrainConfig:
    base = dict(data=str(data), frameworks=["pytorch"], seeds=1, epochs=2, threads=1, db_url=f"sqlite:///{home / 'r.db'}")
    return TrainConfig(**{**base, **kw})


@pytest.fixture
def digits_npz(tmp_path):
    d = sklearn.load_digits()
    path = tmp_path / "digits_nhwc.npz"
    np.savez(path, x=(d.images[:, :, :, None] / 16).astype(np.float32), y=d.target)  # channels-last, as Keras users keep it
    return path


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image

    d = sklearn.load_digits()
    root = tmp_path / "images"
    for i in range(90):  # three classes of 16x16 RGB pictures (the digits 0, 1, 2 upscaled)
        label = [0, 1, 2][i % 3]
        idx = np.flatnonzero(d.target == label)[i // 3]
        (root / f"digit{label}").mkdir(parents=True, exist_ok=True)
        img = Image.fromarray((d.images[idx] * 16).clip(0, 255).astype(np.uint8)).resize((16, 16)).convert("RGB")
        img.save(root / f"digit{label}" / f"{i}.png")
    return root


def test_split_holds_out_a_fifth_of_each_class_with_a_fixed_seed():
    y = np.repeat(np.arange(3), 10)
    x = np.arange(30, dtype=np.float32)[:, None, None, None]
    xt, yt, xe, ye = split(x, y)
    assert sorted(np.bincount(ye)) == [2, 2, 2] and len(yt) == 24
    assert np.array_equal(split(x, y)[2], xe)  # the same split every time, for every framework
    assert set(xt.ravel()).isdisjoint(xe.ravel())


def test_npz_in_nhwc_trains_the_zoo_model(home, digits_npz):
    run = execute(_config(home, digits_npz))
    row = run.rows[0]
    assert row["status"] == "ok", row.get("reason")
    assert row["equivalence"]["max_abs_err"] == 0.0  # the zoo model's weight copy still runs
    assert 0.5 < row["final_accuracy"] <= 1.0
    assert "digits_nhwc.npz: 1797 samples, 10 classes" in run.context["data"]["source"]
    assert run.context["data"]["input_chw"] == [1, 8, 8] and run.context["data"]["eval_samples"] == 359


def test_image_folder_trains_a_user_module_at_the_images_size(home, tmp_path, image_folder):
    (tmp_path / "ep_folder_model.py").write_text(textwrap.dedent('''
        def build():
            import torch
            return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3))
    '''))
    try:
        run = execute(_config(home, image_folder, model="ep_folder_model:build", batch=16, epochs=3))
    finally:
        sys.modules.pop("ep_folder_model", None)
    row = run.rows[0]
    assert row["status"] == "ok", row.get("reason")
    assert run.context["data"]["input_chw"] == [3, 16, 16]  # no --image-shape: the images' own size, RGB
    assert run.context["data"]["train_samples"] == 72 and row["final_accuracy"] > 0.5  # 3 classes: chance is 1/3


def test_data_mistakes_are_one_clear_line(home, tmp_path, digits_npz, image_folder):
    np.savez(tmp_path / "nolabels.npz", x=np.zeros((10, 1, 8, 8), np.float32))
    with pytest.raises(UserError, match="training needs labels"):
        execute(_config(home, tmp_path / "nolabels.npz"))
    with pytest.raises(UserError, match="no such data file"):
        _config(home, tmp_path / "missing.npz").validate()
    with pytest.raises(UserError, match="digits-cnn takes 1x8x8"):
        execute(_config(home, image_folder, image_shape="3x16x16", batch=16))
    with pytest.raises(UserError, match="larger than the 72 training samples"):
        execute(_config(home, image_folder, batch=128))
    with pytest.raises(UserError, match="exclude each other"):
        _config(home, digits_npz, synthetic="3x8x8").validate()


@pytest.mark.slow
def test_npz_on_keras_jax_keeps_the_weight_copy_check(home, digits_npz):
    pytest.importorskip("keras")
    pytest.importorskip("jax")
    row = execute(_config(home, digits_npz, frameworks=["keras-jax"])).rows[0]
    assert row["status"] == "ok", row.get("reason")
    assert row["equivalence"]["max_abs_err"] < 1e-4 and row["final_accuracy"] > 0.5
