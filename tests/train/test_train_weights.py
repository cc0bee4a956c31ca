"""One set of initial weights in every framework: the layout conversions, checked on real forward passes.

The pairwise checks run each framework in its own worker (Keras fixes its backend per process), exactly as
`edgepick train --check-only` does; frameworks missing from this environment are skipped with the reason.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgepick.measure.equivalence import Tolerance, compare
from edgepick.train import weights
from edgepick.train.config import TrainConfig
from edgepick.train.frameworks import FRAMEWORKS
from edgepick.train.runner import execute

torch = pytest.importorskip("torch")

COPY_FAMILIES = ("pytorch", "keras-tensorflow", "keras-jax", "keras-torch", "mxnet")


def test_flatten_permutation_maps_channels_first_dense_to_channels_last():
    """PyTorch flattens (c, h, w), Keras (h, w, c): the converted kernel gives the same logits, the naive one not."""
    rng = np.random.default_rng(0)
    fmap = rng.standard_normal((3, 32, 4, 4)).astype(np.float32)  # N x C x H x W
    linear = torch.nn.Linear(32 * 16, 64)
    expected = linear(torch.from_numpy(fmap).flatten(1)).detach().numpy()
    params = {"000.dense.weight": linear.weight.detach().numpy(), "000.dense.bias": linear.bias.detach().numpy()}
    nhwc_flat = fmap.transpose(0, 2, 3, 1).reshape(3, -1)
    kernel, bias = weights.to_keras("dense", params, (32, 4, 4), broken=False)
    np.testing.assert_allclose(nhwc_flat @ kernel + bias, expected, atol=1e-5)
    kernel, bias = weights.to_keras("dense", params, (32, 4, 4), broken=True)
    assert np.abs(nhwc_flat @ kernel + bias - expected).max() > 1e-2


def test_conv_kernel_oihw_to_hwio_matches_torch_conv():
    rng = np.random.default_rng(1)
    conv = torch.nn.Conv2d(3, 5, 3, padding=1)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    expected = conv(torch.from_numpy(x)).detach().numpy().transpose(0, 2, 3, 1)  # as NHWC
    params = {"000.conv.weight": conv.weight.detach().numpy(), "000.conv.bias": conv.bias.detach().numpy()}
    kernel, bias = weights.to_keras("conv", params, None, broken=False)  # H x W x I x O
    padded = np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
    got = np.zeros_like(expected)
    for i in range(6):
        for j in range(6):
            got[:, i, j, :] = np.einsum("nhwc,hwco->no", padded[:, i:i + 3, j:j + 3, :], kernel) + bias
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_canonical_weights_round_trip_through_torch():
    model = weights.torch_model("digits-cnn", 3)
    state = weights.export_torch(model)
    other = weights.torch_model("digits-cnn", 4)
    weights.load_into_torch(other, state)
    x = torch.randn(4, 1, 8, 8)
    assert torch.equal(model(x), other(x))
    assert [k for k in state if k.endswith("weight")] == ["000.conv.weight", "001.conv.weight", "002.dense.weight",
                                                          "003.dense.weight"]


def _installed(names):
    return [n for n in names if FRAMEWORKS[n].missing() is None]


def _check(home, model="digits-cnn", synthetic=None, frameworks=COPY_FAMILIES, broken=()):
    usable = _installed(frameworks)
    if len(usable) < 2:
        pytest.skip(f"fewer than two of {', '.join(frameworks)} are installed here")
    config = TrainConfig(model=model, frameworks=usable, check_only=True, seeds=1, threads=1, synthetic=synthetic,
                         batch=8, steps=1, broken_copy_for=list(broken), db_url=f"sqlite:///{home / 'r.db'}")
    run = execute(config)
    return {r["framework"]: r for r in run.rows}, home / "train"


def _probe_logits(folder, name):
    (path,) = folder.glob(f"*/{name}/probe_logits.npy")
    return np.load(path)


@pytest.mark.slow
def test_weight_copy_agrees_on_every_installed_framework_pair(home):
    rows, folder = _check(home)
    assert all(r["status"] == "ok" for r in rows.values()), {k: r.get("reason") for k, r in rows.items()}
    logits = {name: _probe_logits(folder, name) for name in rows}
    for a, b in itertools.combinations(logits, 2):
        eq = compare([logits[a]], [logits[b]], Tolerance())
        assert eq["agrees"], f"{a} vs {b}: {eq['why']}"
        assert eq["top1_agreement"] == 1.0


@pytest.mark.slow
def test_mobilenet_copy_agrees_between_pytorch_and_keras(home):
    """Depthwise kernels, batch-norm statistics and stride-2 padding: the layers where a port usually slips."""
    rows, _ = _check(home, "mobilenetv2-like", "3x32x32", ("pytorch", "keras-torch", "keras-tensorflow", "keras-jax", "mxnet"))
    for name, row in rows.items():
        assert row["status"] == "ok", (name, row.get("reason"))
        assert row["equivalence"]["max_abs_err"] < 1e-3


@pytest.mark.slow
def test_a_deliberately_broken_copy_is_a_disagrees_row(home):
    keras_variants = _installed(("keras-torch", "keras-tensorflow", "keras-jax"))
    if not keras_variants:
        pytest.skip("no Keras backend installed (pip install 'edgepick[jax]' or '[tensorflow]')")
    broken = keras_variants[0]
    rows, _ = _check(home, frameworks=("pytorch", broken), broken=(broken,))
    assert rows["pytorch"]["status"] == "ok"
    assert rows[broken]["status"] == "disagrees" and rows[broken]["reason_class"] == "disagrees"
    assert "initial-weight copy disagrees" in rows[broken]["reason"]
    assert rows[broken].get("samples_per_s") is None  # a wrong copy gets no training figures
