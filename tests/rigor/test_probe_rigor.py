"""The rigor passes around a probed worker (issue 23): a pruned probe is never re-measured longer or cold-started;
an unsteady contender still is."""

from __future__ import annotations

import json

from edgepick.core.job import TimingPolicy
from edgepick.launch import base as launch
from edgepick.rigor.run import run_measured
from edgepick.sweep.settings import Settings


class _Launcher:
    device = {"name": "fake"}  # a device launcher: the head's load is not sampled

    def __init__(self, pruned: bool):
        self.pruned, self.jobs = pruned, []

    def launch(self, job, out_dir, caps):
        self.jobs.append(job)
        probe = {"latency_ms": {"p50": 1.0}, **({"pruned": {"ratio": 3.0}} if self.pruned else {})}
        return {"status": "ok", "latency_ms": {"p50": 1.0, "robust_cv": 0.5, "cv": 0.5}, "probe": probe}


def _settings() -> Settings:
    return Settings.of("m", timing=TimingPolicy(min_duration_s=1.0), cold_start=2)


def test_a_pruned_probe_is_not_measured_again(tmp_path, monkeypatch):
    import edgepick.rigor.coldstart as coldstart

    monkeypatch.setattr(coldstart, "cold_start", lambda *a, **k: {"cold": True})
    fake = _Launcher(pruned=True)
    with launch.using(fake):
        result = run_measured({"runtime": "x"}, tmp_path, _settings())
    assert len(fake.jobs) == 1 and result["noise"]["extended"] is False and "cold_start" not in result


def test_an_unsteady_contender_is_still_measured_again_longer(tmp_path, monkeypatch):
    import edgepick.rigor.coldstart as coldstart

    monkeypatch.setattr(coldstart, "cold_start", lambda *a, **k: {"cold": True})
    fake = _Launcher(pruned=False)
    with launch.using(fake):
        result = run_measured({"runtime": "x"}, tmp_path, _settings())
    assert len(fake.jobs) == 2 and result["cold_start"] == {"cold": True}


class _RemeasuringWorker(_Launcher):
    """A worker that found its median unsteady and measured once more, longer, itself (worker/measure.py)."""

    def launch(self, job, out_dir, caps):
        self.jobs.append(job)
        return {"status": "ok", "latency_ms": {"p50": 1.0, "robust_cv": 0.02, "cv": 0.02}, "probe": {},
                "remeasured": {"first_robust_cv": 0.4, "first_samples": 50}}


def test_a_worker_that_remeasured_itself_is_not_launched_again(tmp_path, monkeypatch):
    import edgepick.rigor.coldstart as coldstart

    monkeypatch.setattr(coldstart, "cold_start", lambda *a, **k: {"cold": True})
    fake = _RemeasuringWorker(pruned=False)
    with launch.using(fake):
        result = run_measured({"runtime": "x"}, tmp_path, _settings())
    assert len(fake.jobs) == 1 and fake.jobs[0]["remeasure_above"] == 0.10  # the threshold travels with the job
    assert result["noise"]["extended"] is True and result["noise"]["first_robust_cv"] == 0.4
    assert "remeasured" not in result  # folded into noise: the row has no such field (core/job.py)


UNSTEADY = '''
import os, time
import torch


class Wobbly(torch.nn.Module):
    """Busy 1, 2 and 3 ms in turn inside a measurement worker: a median that cannot settle (robust CV ~0.7)."""

    example_input_shape = (1, 4)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.calls = 0
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        if os.environ.get("EDGEPICK_WORKER_ROLE") == "measure":
            self.calls += 1
            end = time.perf_counter() + (1 + self.calls % 3) / 1000
            while time.perf_counter() < end:
                pass
        return self.linear(x)


def wobbly():
    return Wobbly().eval()
'''


def test_an_unsteady_steady_state_is_measured_again_longer_in_its_own_worker(home):
    import edgepick

    (home.parent / "wobbly_models.py").write_text(UNSTEADY)
    timing = TimingPolicy(warmup_count=2, warmup_s=0.0, min_samples=20, min_duration_s=0.5, max_duration_s=5.0)
    run = edgepick.pick("wobbly_models:wobbly", runtimes=["torch-eager"], precisions="fp32", threads=[1],
                        batches=[1], timing=timing, exhaustive=True)
    row = run.rows[0]
    assert row["status"] == "ok", row.get("reason")
    assert row["noise"]["extended"] is True and row["noise"]["first_robust_cv"] > 0.10
    # one worker: the re-measure ran in it (twice the duration), no second process was started
    assert row["latency_ms"]["samples"] >= 2 * timing.min_samples
    job = json.loads(next((home / "runs").glob("*/torch-eager_fp32_t1_b1/job.json")).read_text())
    assert job["timing"]["min_samples"] == timing.min_samples  # a re-measure in a fresh worker writes one of 40
