"""zoo/: the built-in models, their factories, the digits data and its cached weights."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from edgepick.zoo import ZOO, digits, mobilenet


def _resolve(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def test_every_entry_names_a_factory_and_data_a_worker_can_import():
    assert set(ZOO) == {"digits-cnn", "mobilenetv2-like"}
    for name, entry in ZOO.items():
        assert entry.name == name and entry.input_shape[0] == 1 and entry.description
        assert callable(_resolve(entry.factory))
        assert entry.data is None or callable(_resolve(entry.data))


def test_digits_splits_are_fixed_stratified_and_scaled():
    x_eval, y_eval = digits.eval_set()
    x_train, y_train = digits.train_set()
    assert x_eval.shape[1:] == (1, 8, 8) == x_train.shape[1:] and x_eval.dtype == np.float32 and y_eval.dtype == np.int64
    assert len(x_eval) + len(x_train) == 1797 and len(x_eval) == 360  # scikit-learn's digits, 20% held out
    assert 0.0 <= x_eval.min() and x_eval.max() <= 1.0
    # stratified: each class keeps its share in the held-out set, so accuracy is not skewed by a missing digit
    assert np.bincount(y_eval).min() >= 30
    again, _ = digits.eval_set()
    np.testing.assert_array_equal(again, x_eval)  # the seed fixes the split: a stored run's accuracy means the same


def test_digits_cnn_trains_once_caches_its_weights_and_classifies(home, monkeypatch):
    import torch

    train = digits.train
    monkeypatch.setattr(digits, "train", lambda: train(epochs=5))  # the first build trains: 5 of the 30 epochs do
    model = digits.build()
    cached = home / "zoo" / f"digits-cnn-{digits.WEIGHTS_VERSION}.pt"
    assert cached.exists() and not list(cached.parent.glob("*.tmp"))
    x, y = digits.eval_set()
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
    assert logits.shape == (360, 10) and not model.training
    assert (logits.argmax(1).numpy() == y).mean() > 0.9
    monkeypatch.setattr(digits, "train", lambda *a, **k: pytest.fail("trained again instead of loading the cache"))
    with torch.no_grad():
        torch.testing.assert_close(digits.build()(torch.from_numpy(x[:8])), logits[:8])


def test_mobilenetv2_like_has_the_papers_layer_plan_and_seeded_weights():
    import torch

    model = mobilenet.build()
    assert sum(p.numel() for p in model.parameters()) == 3_504_872  # torchvision's mobilenet_v2(): the same plan
    assert not model.training
    x = torch.randn(1, *ZOO["mobilenetv2-like"].input_shape[1:], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(mobilenet.build()(x), out)  # seeded: a worker rebuilds the same module
        assert not torch.allclose(mobilenet.build(seed=1)(x), out)
    assert out.shape == (1, 1000) and mobilenet.build(num_classes=10)(x).shape == (1, 10)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(not torch.equal(m.running_var, torch.ones_like(m.running_var)) for m in norms)  # non-trivial stats


def test_the_residual_blocks_are_exactly_the_stride_1_same_width_ones():
    blocks = [m for m in mobilenet.build(num_classes=10).modules() if type(m).__name__ == "InvertedResidual"]
    assert len(blocks) == sum(n for _, _, n, _ in mobilenet._PLAN) == 17
    assert sum(b.residual for b in blocks) == 10  # MobileNetV2: 17 bottlenecks, 10 with a shortcut
