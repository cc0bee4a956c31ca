"""`edgepick train`: real trainings in isolated workers; failures (out of memory, timeout, no runtime) are rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from edgepick.store.db import Store
from edgepick.train.claims import compare_claims
from edgepick.train.config import TrainConfig
from edgepick.train.results import FIELDS, trimmed_summary
from edgepick.train.runner import execute

pytest.importorskip("torch")


def _config(home, **kw) -> TrainConfig:
    base = dict(frameworks=["pytorch"], seeds=3, epochs=3, threads=1, db_url=f"sqlite:///{home / 'results.db'}")
    return TrainConfig(**{**base, **kw})


def test_trimmed_mean_drops_fastest_and_slowest_and_counts_a_miss_as_slowest():
    s = trimmed_summary([3.0, 1.0, 2.0, 10.0, 4.0])
    assert s["mean_trimmed_s"] == pytest.approx(3.0) and s["kept"] == 3 and s["reached"] == 5
    assert trimmed_summary([1.0, None, 2.0])["mean_trimmed_s"] == pytest.approx(2.0)  # the miss is dropped
    missed = trimmed_summary([1.0, None, None, 2.0])
    assert missed["mean_trimmed_s"] is None and missed["reached"] == 2


def test_pytorch_trains_in_its_worker_and_the_run_is_stored(home):
    run = execute(_config(home, frameworks=["pytorch", "caffe", "theano"]))
    rows = {r["framework"]: r for r in run.rows}
    torch_row = rows["pytorch"]
    assert torch_row["status"] == "ok", torch_row.get("reason")
    assert torch_row["equivalence"]["max_abs_err"] == 0.0  # PyTorch is the reference: the copy is exact
    assert torch_row["first_step_s"] > 0 and torch_row["step_ms"]["p50"] > 0
    assert torch_row["step_ms"]["p90"] >= torch_row["step_ms"]["p50"]
    assert torch_row["step_ms"]["n"] == 3 * 3 * (1437 // 64)  # every step of every seed, after the warm-up epoch
    assert torch_row["samples_per_s"] > 0 and torch_row["data_samples_per_s"] > 0
    assert torch_row["peak_rss_mb"] > torch_row["import_rss_mb"] > torch_row["baseline_rss_mb"] > 0
    assert len(torch_row["seeds"]) == 3 and 0.5 < torch_row["final_accuracy"] <= 1.0
    assert torch_row["time_to_accuracy"]["seeds"] == 3
    for name in ("caffe", "theano"):
        assert rows[name]["status"] == "failed" and rows[name]["reason_class"] == "not-installed"
        assert "no maintained" in rows[name]["reason"]
    stored = Store(run_config_db(home)).get_run(run.run_id)
    assert stored.request["kind"] == "train" and len(stored.candidates) == 3 and stored.status == "done"

    again = execute(_config(home, frameworks=["pytorch", "caffe", "theano"]))  # same request: reused, not retrained
    assert again.run_id == run.run_id
    assert again.rows[0]["worker_wall_s"] == torch_row["worker_wall_s"]

    pytest.importorskip("scipy")
    from edgepick.cli.train import comparable
    from edgepick.select.compare import compare_runs

    same = compare_runs(comparable(stored), comparable(stored))  # `edgepick compare` lines frameworks up by name
    pair = {c["key"]: c for c in same["candidates"]}["pytorch"]
    assert pair["deltas"]["p50 ms"]["change"] == 0.0 and pair["verdict"] not in ("regression", "improvement")


def run_config_db(home) -> str:
    return f"sqlite:///{home / 'results.db'}"


def test_out_of_memory_is_a_classified_row(home):
    run = execute(_config(home, memory_limit=96 * 2**20, seeds=1, epochs=1))
    row = run.rows[0]
    assert row["status"] == "failed" and row["reason_class"] == "oom", row
    assert "does not fit in 96 MB" in row["reason"]


def test_a_hung_or_slow_framework_hits_the_timeout(home):
    run = execute(_config(home, timeout_s=1.0, seeds=1, epochs=1))
    assert run.rows[0]["reason_class"] == "timeout"


def test_json_has_the_documented_fields_and_the_claims(home):
    from edgepick.train.report import to_json

    doc = to_json(execute(_config(home, frameworks=["caffe"])))
    assert doc["schema"] == "edgepick.train/1"
    assert list(doc["frameworks"][0])[: len(FIELDS)] == list(FIELDS)
    assert {c["framework"] for c in doc["claims"]} == {"TensorFlow", "PyTorch", "Keras", "Caffe"}


def test_claims_compare_the_measured_order_with_the_chapter():
    rows = [{"framework": "pytorch", "status": "ok", "time_to_accuracy_s": 2.0},
            {"framework": "keras-tensorflow", "status": "ok", "time_to_accuracy_s": 1.0},
            {"framework": "keras-jax", "status": "ok", "time_to_accuracy_s": 4.0}]
    claims = {c["framework"]: c["training_speed"] for c in compare_claims(rows, deployed=False)}
    assert claims["PyTorch"]["verdict"].startswith("did not hold")  # "very fast", but TensorFlow was faster
    assert claims["Caffe"]["verdict"] == "not measured"
    assert "median of" in claims["Keras"]["measured"]


def test_unknown_framework_is_a_user_error(home):
    out = subprocess.run([sys.executable, "-m", "edgepick.cli.main", "train", "--frameworks", "tensorflw"],
                         capture_output=True, text=True, env=_env(home))
    assert out.returncode == 2 and "unknown framework(s) tensorflw" in out.stderr
    assert "Traceback" not in out.stderr


def _env(home) -> dict:
    return dict(os.environ, EDGEPICK_HOME=str(home))


@pytest.mark.slow
def test_kill_minus_nine_then_resume_reuses_finished_frameworks(home):
    args = [sys.executable, "-m", "edgepick.cli.main", "train", "--frameworks", "pytorch,pytorch-compile", "--seeds", "1",
            "--epochs", "1", "--threads", "1"]
    store = Store(run_config_db(home))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=_env(home))
    deadline, before = time.monotonic() + 300, []
    while time.monotonic() < deadline and proc.poll() is None:
        runs = store.list_runs() if (home / "results.db").exists() else []
        if runs and runs[0].candidates:
            before = runs[0].candidates
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert [c.key for c in before] == ["pytorch"], "the kill did not land between the two frameworks"
    run_id, measured_at = store.list_runs()[0].id, before[0].measured_at
    done = subprocess.run(args + ["--json"], capture_output=True, text=True, timeout=900, env=_env(home))
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["run_id"] == run_id and [f["framework"] for f in doc["frameworks"]] == ["pytorch", "pytorch-compile"]
    final = store.get_run(run_id)
    assert final.status == "done" and len(store.list_runs()) == 1
    assert {c.key: c.measured_at for c in final.candidates}["pytorch"] == measured_at  # reused, not retrained
    shown = subprocess.run([sys.executable, "-m", "edgepick.cli.main", "show", run_id, "--json"], capture_output=True,
                           text=True, env=_env(home))
    assert json.loads(shown.stdout)["schema"] == "edgepick.train/1"


@pytest.mark.slow
def test_deploy_puts_the_trained_model_through_the_inference_sweep(home):
    pytest.importorskip("onnxruntime")
    from edgepick.plan import precision
    from edgepick.runtimes.torch_eager import TorchEager

    run = execute(_config(home, seeds=1, epochs=2, deploy=True, deploy_runtimes=["torch-eager", "onnxruntime"]))
    row = run.rows[0]
    assert row["status"] == "ok" and row["artifact"]["format"] == "torch-exported"
    deploy = row["deploy"]
    assert deploy["best_p50_ms"] > 0 and deploy["best_runtime"] in ("torch-eager", "onnxruntime")
    stored = Store(run_config_db(home)).get_run(deploy["run_id"])  # the sweep is an ordinary stored run
    assert {c.runtime for c in stored.candidates} == {"torch-eager", "onnxruntime"}
    # one FP32 row per runtime, plus torch-eager BF16/FP16 rows only where this CPU computes them natively
    native = [p for p in ("bf16", "fp16") if precision.native(p, precision.host_isa_flags())]
    assert sorted(c.precision for c in stored.candidates if c.precision != "fp32") == sorted(
        p for p in native if p in TorchEager.precisions)
    fp32 = [c for c in stored.candidates if c.precision == "fp32"]
    assert deploy["tried"] == len(stored.candidates) and len(fp32) == 2, deploy
    assert all(c.status == "ok" for c in fp32) and deploy["agreed"] >= 2, deploy
