"""Per-runtime venvs (core/envs.py): readiness, the launcher hook, honest rows when an env is absent, the CLI."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from edgepick.cli.main import app
from edgepick.core import envs, errors
from edgepick.inputs.signature import Signature, TensorSpec


@pytest.fixture
def env_root(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPICK_ENVS", str(tmp_path / "envs"))
    return tmp_path / "envs"


def _fake_ready(name: str, packages) -> None:
    """A marker and a python where a verified env would have them (no install: these tests stay fast)."""
    (envs.env_dir(name) / "bin").mkdir(parents=True)
    envs.python_of(name).symlink_to(sys.executable)
    (envs.env_dir(name) / envs.MARKER).write_text(json.dumps({"packages": list(packages), "check": "ok"}))


def test_runtime_without_env_runs_with_this_python(env_root):
    python, overrides = envs.worker_launch({"runtime": "onnxruntime", "threads": 1})
    assert python == sys.executable and overrides == {}


def test_absent_env_blocks_the_runtime_with_the_command_to_run(env_root):
    from edgepick.plan.planner import plan

    sig = Signature([TensorSpec("input", [1, 1, 8, 8], "float32", True)])
    [cand] = plan("onnx", ["mxnet"], [1], [1], sig)
    assert cand.blocked[0] == errors.NOT_INSTALLED
    assert "edgepick env create mxnet" in cand.blocked[1] and "numpy" in cand.blocked[1]
    with pytest.raises(errors.CandidateFailure):
        envs.interpreter_for("mxnet")


def test_marker_must_match_the_pins(env_root):
    _fake_ready("mxnet", ["mxnet==1.9.0"])
    assert not envs.is_ready("mxnet")  # an env built for other pins is rebuilt, never silently used
    (envs.env_dir("mxnet") / envs.MARKER).write_text(json.dumps({"packages": list(envs.ENVS["mxnet"].packages)}))
    assert envs.is_ready("mxnet")


def test_ready_env_worker_gets_its_python_and_only_edgepick_on_the_path(env_root):
    _fake_ready("mxnet", envs.ENVS["mxnet"].packages)
    python, overrides = envs.worker_launch({"runtime": "mxnet", "threads": 2})
    assert python == str(envs.python_of("mxnet"))
    link = envs.source_link() / "edgepick"
    assert overrides["PYTHONPATH"] == str(link.parent) and link.resolve() == envs.Path(envs.__file__).resolve().parents[1]
    assert sorted(p.name for p in link.parent.iterdir()) == ["edgepick"]  # not the main site-packages (numpy 2)
    assert overrides["OMP_NUM_THREADS"] == "2"


def test_keras_jax_threads_reach_xla_before_the_process_starts(env_root):
    pytest.importorskip("edgepick.runtimes.keras_jax")
    _, overrides = envs.worker_launch({"runtime": "keras-jax", "threads": 1})
    assert "intra_op_parallelism_threads=1" in overrides["XLA_FLAGS"] and overrides["KERAS_BACKEND"] == "jax"


def test_unknown_env_is_a_user_error(env_root):
    with pytest.raises(errors.UserError, match="known: mxnet"):
        envs.spec_of("caffe2")


def test_env_list_shows_state_and_users(env_root):
    result = CliRunner().invoke(app, ["env", "list"])
    assert result.exit_code == 0, result.output
    assert "mxnet" in result.output and "absent" in result.output and "runtime mxnet" in result.output


@pytest.mark.slow
def test_failed_create_is_recorded_and_reported(env_root, monkeypatch):
    # pip refuses an empty requirement list offline and fast: the real failure path, no registry involved
    monkeypatch.setitem(envs.ENVS, "mxnet", envs.EnvSpec("mxnet", (), "print('x')", "test"))
    with pytest.raises(errors.UserError, match="pip install failed for Python"):
        envs.create("mxnet")
    assert "could not be built here: pip install failed" in envs.unavailable_reason("mxnet")
