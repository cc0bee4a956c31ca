"""One onnx2tf pass for the SavedModel and the .tflite edge (convert/onnx2tf_pass.py). Before, onnx2tf ran twice on
the same graph (35-98 s each on real models); a pass is now keyed by everything onnx2tf reads, so two edges that ask
the same share one run, and edges that ask differently (a dynamic-batch SavedModel, a batch-1 .tflite) do not."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edgepick.convert import onnx2tf_pass
from edgepick.core.artifact import Artifact

# A real command standing in for onnx2tf where only the pass mechanics are under test: it writes an output file into
# the pass's folder, appends a line to a counter file (how many times it ran), then exits with the code asked.
_WRITER = ("import os, pathlib, sys; out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True); "
           "(out / 'm_float32.tflite').write_text('x'); open(sys.argv[2], 'a').write('ran\\n'); "
           "code = int(sys.argv[3]); os.kill(os.getpid(), 9) if code < 0 else sys.exit(code)")


def _folder(path, npy_value=0.0):
    path.mkdir(parents=True)
    (path / "m.onnx").write_bytes(b"graph")
    np.save(path / "input_0.npy", np.full((1, 3), npy_value, np.float32))
    return path


def test_the_key_is_the_content_onnx2tf_reads_not_where_it_lies(tmp_path):
    env = {"check": "onnx2tf 1.29.24", "created": "t"}
    a, b = _folder(tmp_path / "a"), _folder(tmp_path / "b")
    args = lambda f: ["-i", str(f / "m.onnx"), "-o", "<out>", "-b", "1", "-cind", "x", str(f / "input_0.npy")]  # noqa: E731
    assert onnx2tf_pass.pass_key(a, args(a), env) == onnx2tf_pass.pass_key(b, args(b), env)
    assert onnx2tf_pass.pass_key(a, args(a), env) != onnx2tf_pass.pass_key(a, args(a)[:4], env)  # other flags
    assert onnx2tf_pass.pass_key(a, args(a), env) != onnx2tf_pass.pass_key(a, args(a), {**env, "created": "u"})
    c = _folder(tmp_path / "c", npy_value=1.0)  # other sample data: onnx2tf may build another graph from it
    assert onnx2tf_pass.pass_key(c, args(c), env) != onnx2tf_pass.pass_key(a, args(a), env)


def _run(tmp_path, code: int):
    counter = tmp_path / "ran.txt"
    cmd = [sys.executable, "-c", _WRITER, "<out>", str(counter), str(code)]
    out, record = onnx2tf_pass.run_shared(cmd, {}, tmp_path, tmp_path / "cache", f"key{code}")
    return out, record, counter.read_text().count("ran")


def test_a_pass_runs_once_and_its_output_and_exit_are_reused(tmp_path):
    out, first, runs = _run(tmp_path, 0)
    assert (out / "m_float32.tflite").exists() and first["returncode"] == 0 and not first["reused"] and runs == 1
    out2, second, runs = _run(tmp_path, 0)
    assert out2 == out and second["reused"] and runs == 1
    _, failed, runs = _run(tmp_path, 3)  # an exit of its own is deterministic: recorded, and not run again
    _, again, runs_after = _run(tmp_path, 3)
    assert failed["returncode"] == again["returncode"] == 3 and again["reused"] and runs_after == runs


def test_a_pass_killed_by_a_signal_is_not_recorded(tmp_path):
    _, killed, runs = _run(tmp_path, -9)
    assert killed["returncode"] == -9 and runs == 1
    _, again, runs = _run(tmp_path, -9)
    assert not again["reused"] and runs == 2


def test_link_tree_gives_the_step_its_own_folder(tmp_path):
    source = tmp_path / "pass" / "out"
    (source / "variables").mkdir(parents=True)
    (source / "saved_model.pb").write_bytes(b"pb")
    (source / "variables" / "v.index").write_bytes(b"v")
    (source / "m_float32.tflite").write_bytes(b"t")
    import shutil

    onnx2tf_pass.link_tree(source, tmp_path / "step" / "saved_model", ignore=shutil.ignore_patterns("*.tflite"))
    got = sorted(p.relative_to(tmp_path / "step").as_posix() for p in (tmp_path / "step").rglob("*") if p.is_file())
    assert got == ["saved_model/saved_model.pb", "saved_model/variables/v.index"]


def _onnx2tf_ready():
    from edgepick.core import envs

    if not envs.is_ready("onnx2tf"):
        pytest.skip("the onnx2tf env is absent: edgepick env create onnx2tf")
    pytest.importorskip("tensorflow")


def _both(tmp_path, build):
    from edgepick.convert.chain import convert_along

    signature = build(tmp_path / "m.onnx")
    source = Artifact("onnx", str(tmp_path / "m.onnx"))
    tflite, _ = convert_along(["onnx2tf"], source, signature, tmp_path / "cache")
    saved, _ = convert_along(["onnx2tf-savedmodel"], source, signature, tmp_path / "cache")
    return signature, tflite, saved


def _savedmodel_output(artifact, x):
    from edgepick.runtimes.tensorflow import TfSession, tf_callable

    session = TfSession(*tf_callable(artifact))
    return session.to_numpy(session.run(session.prepare({"x": x})))[0]


@pytest.mark.slow
def test_a_static_graph_is_converted_once_for_both_targets(tmp_path):
    """Before: two onnx2tf runs. After: the SavedModel edge reuses the .tflite edge's pass, and both agree with ONNX
    Runtime in the model's own layout (the .tflite's feature map channels-last, as before)."""
    _onnx2tf_ready()
    from test_onnx2tf_input import _ort, _tflite, dequantized_conv_model

    from edgepick.convert.chain import convert_along

    signature, tflite, saved = _both(tmp_path, dequantized_conv_model)
    assert not tflite.meta["onnx2tf_input"]["onnx2tf_pass"]["reused"]
    assert saved.meta["onnx2tf_input"]["onnx2tf_pass"]["reused"] and saved.meta["static_batch"] is None
    assert len(list((tmp_path / "cache" / onnx2tf_pass.PASSES).iterdir())) == 2  # one pass, its lock file
    assert not list((tmp_path / "cache" / "onnx2tf-savedmodel").rglob("*.tflite"))
    x = np.random.default_rng(3).standard_normal((1, 2, 8, 8)).astype(np.float32)
    want = _ort(tmp_path / "m.onnx", {"x": x})
    np.testing.assert_allclose(_tflite(tflite.path, x).transpose(0, 3, 1, 2), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_savedmodel_output(saved, x), want, rtol=1e-4, atol=1e-5)
    again = [convert_along([edge], Artifact("onnx", str(tmp_path / "m.onnx")), signature, tmp_path / "cache")[1]
             for edge in ("onnx2tf", "onnx2tf-savedmodel")]  # a second run converts nothing
    assert all(steps[-1]["cached"] for steps in again)


@pytest.mark.slow
def test_a_dynamic_graph_keeps_two_passes(tmp_path):
    """A dynamic batch and H x W: the SavedModel keeps them, the .tflite fixes them; the two requests differ, so
    neither edge takes the other's output."""
    _onnx2tf_ready()
    from test_onnx2tf_input import _ort, paddle_like_classifier

    _, tflite, saved = _both(tmp_path, paddle_like_classifier)
    assert not tflite.meta["onnx2tf_input"]["onnx2tf_pass"]["reused"]
    assert not saved.meta["onnx2tf_input"]["onnx2tf_pass"]["reused"] and saved.meta["static_batch"] is None
    x = np.random.default_rng(4).standard_normal((1, 3, 16, 24)).astype(np.float32)
    np.testing.assert_allclose(_savedmodel_output(saved, x), _ort(tmp_path / "m.onnx", {"x": x}), rtol=1e-4, atol=1e-5)

