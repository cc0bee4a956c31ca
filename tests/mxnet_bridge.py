"""Run an ONNX graph through edgepick's MXNet runtime in MXNet's own env (a subprocess), with one of its import repairs
turned off or as shipped, and through ONNX Runtime here: the tests of runtimes/mxnet.py compare the two."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

_RUN = """
import json, sys, numpy as np
from edgepick.core.artifact import Artifact
from edgepick.core import onnx_graph
from edgepick.runtimes import mxnet as bridge
job = json.loads(sys.argv[1])
if not job["repair"]:
    bridge.repair_importer = lambda: None  # the importer as MXNet ships it
if not job["rewrite"]:
    onnx_graph.channel_pads_as_concats = lambda model, signature=None: 0  # the graph as given
session = bridge.MxNet().load(Artifact("onnx", job["onnx"]), 1)
np.savez(job["out"], *session.to_numpy(session.run(session.prepare({"x": np.load(job["x"])}))))
"""


def require_mxnet_env():
    from edgepick.core import envs

    if not envs.is_ready("mxnet"):
        pytest.skip("the mxnet env is absent: edgepick env create mxnet")


def run_mxnet(tmp_path, x, repair=True, rewrite=True) -> subprocess.CompletedProcess:
    """tmp_path/m.onnx fed x (its one input, "x") on MXNet; the outputs go to tmp_path/y.npz. repair=False: MXNet's
    importer without edgepick's repairs; rewrite=False: channel Pads left as Pads."""
    from edgepick.core import envs

    python, overrides = envs.interpreter_for("mxnet")
    np.save(tmp_path / "x.npy", x)
    job = {"onnx": str(tmp_path / "m.onnx"), "x": str(tmp_path / "x.npy"), "out": str(tmp_path / "y.npz"),
           "repair": repair, "rewrite": rewrite}
    return subprocess.run([python, "-c", _RUN, json.dumps(job)], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", **overrides})


def mxnet_and_onnxruntime(tmp_path, build, x, refusal, **off) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(MXNet's outputs, ONNX Runtime's outputs) for the graph build(path) writes to tmp_path/m.onnx, fed x. Skips
    where the mxnet env or ONNX Runtime is absent. MXNet runs it twice: first with the repair `off` names turned off
    (repair=False or rewrite=False), where it must fail with `refusal` (MXNet's own error) in its stderr; then as
    edgepick ships it, where it must run: its outputs are that run's."""
    require_mxnet_env()
    build(tmp_path / "m.onnx")
    ort = pytest.importorskip("onnxruntime")
    want = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    before = run_mxnet(tmp_path, x, **off)
    assert before.returncode != 0 and refusal in before.stderr
    after = run_mxnet(tmp_path, x)
    assert after.returncode == 0, after.stderr[-2000:]
    got = np.load(tmp_path / "y.npz")
    return [got[f"arr_{i}"] for i in range(len(got.files))], want
