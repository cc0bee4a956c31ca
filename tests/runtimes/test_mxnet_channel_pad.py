"""MXNet on a channel Pad (runtimes/mxnet.py, onnx_for_mxnet): MediaPipe's face detector and landmark models pad a
residual branch's channels, which MXNet's Pad refuses at bind ("Current implementation expects padding on the first
two axes to be zero"). The import path rewrites such a Pad as a Concat with constant zero blocks (exact: every
element is copied), and MXNet then agrees with ONNX Runtime. MXNet runs in its own env: driven in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
sys.path.insert(0, str(Path(__file__).parents[1] / "convert"))
from test_pnnx_channel_pad import blaze_block  # noqa: E402  (the same small BlazeFace-style block)

_RUN = """
import json, sys, numpy as np
from edgepick.core.artifact import Artifact
from edgepick.core import onnx_graph
from edgepick.runtimes import mxnet as bridge
job = json.loads(sys.argv[1])
if not job["rewrite"]:
    onnx_graph.channel_pads_as_concats = lambda model, signature=None: 0  # the graph as given
session = bridge.MxNet().load(Artifact("onnx", job["onnx"]), 1)
x = np.load(job["x"])
outs = session.to_numpy(session.run(session.prepare({"x": x})))
np.savez(job["out"], *outs)
"""


def _mxnet(tmp_path, x, rewrite=True):
    from edgepick.core import envs

    python, overrides = envs.interpreter_for("mxnet")
    np.save(tmp_path / "x.npy", x)
    job = {"onnx": str(tmp_path / "m.onnx"), "x": str(tmp_path / "x.npy"), "out": str(tmp_path / "y.npz"), "rewrite": rewrite}
    return subprocess.run([python, "-c", _RUN, json.dumps(job)], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", **overrides})


def test_channel_pad_binds_and_agrees_with_onnxruntime(tmp_path):
    from edgepick.core import envs

    if not envs.is_ready("mxnet"):
        pytest.skip("the mxnet env is absent: edgepick env create mxnet")
    blaze_block(tmp_path / "m.onnx")
    x = np.random.default_rng(0).standard_normal((1, 4, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})

    before = _mxnet(tmp_path, x, rewrite=False)
    assert before.returncode != 0 and "first two axes" in before.stderr  # MXNet's own refusal, as the corpus saw it
    after = _mxnet(tmp_path, x)
    assert after.returncode == 0, after.stderr[-2000:]
    got = np.load(tmp_path / "y.npz")
    assert len(got.files) == len(want)
    for i, w in enumerate(want):
        np.testing.assert_allclose(got[f"arr_{i}"], w, rtol=1e-5, atol=1e-5)
