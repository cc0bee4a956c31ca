"""MXNet on a channel Pad (runtimes/mxnet.py, onnx_for_mxnet): MediaPipe's face detector and landmark models pad a
residual branch's channels, which MXNet's Pad refuses at bind ("Current implementation expects padding on the first
two axes to be zero"). The import path rewrites such a Pad as a Concat with constant zero blocks (exact: every
element is copied), and MXNet then agrees with ONNX Runtime. MXNet runs in its own env: driven in a subprocess."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).parents[1] / "convert"))
from test_pnnx_channel_pad import blaze_block  # noqa: E402  (the same small BlazeFace-style block)
from tests.mxnet_bridge import mxnet_and_onnxruntime  # noqa: E402


def test_channel_pad_binds_and_agrees_with_onnxruntime(tmp_path):
    x = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)
    # "first two axes": MXNet's own refusal, as the corpus saw it
    got, want = mxnet_and_onnxruntime(tmp_path, blaze_block, x, "first two axes", rewrite=False)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
