"""The rigor passes around a probed worker (issue 23): a pruned probe is never re-measured longer or cold-started;
a contender whose median moved in its window still is, and one whose calls only vary around a steady median is not."""

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
        return {"status": "ok", "latency_ms": {"p50": 1.0, "robust_cv": 0.5, "cv": 0.5, "p50_ci95": [0.99, 1.01],
                                               "p50_ci95_batches": [0.8, 1.2]}, "probe": probe}


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
                "remeasured": {"first_robust_cv": 0.4, "first_samples": 50, "first_ci_halfwidth": 0.2}}


def test_a_worker_that_remeasured_itself_is_not_launched_again(tmp_path, monkeypatch):
    import edgepick.rigor.coldstart as coldstart

    monkeypatch.setattr(coldstart, "cold_start", lambda *a, **k: {"cold": True})
    fake = _RemeasuringWorker(pruned=False)
    with launch.using(fake):
        result = run_measured({"runtime": "x"}, tmp_path, _settings())
    assert len(fake.jobs) == 1 and fake.jobs[0]["remeasure_above"] == 0.05  # the threshold travels with the job
    assert result["noise"]["extended"] is True and result["noise"]["first_ci_halfwidth"] == 0.2
    assert "remeasured" not in result  # folded into noise: the row has no such field (core/job.py)


MODELS = '''
import os, time
import torch


def _busy(ms):
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


class Timed(torch.nn.Module):
    example_input_shape = (1, 4)

    def __init__(self, cost):
        super().__init__()
        torch.manual_seed(0)
        self.calls, self.cost = 0, cost
        self.linear = torch.nn.Linear(4, 3)

    def forward(self, x):
        if os.environ.get("EDGEPICK_WORKER_ROLE") == "measure":
            self.calls += 1
            _busy(self.cost(self.calls))
        return self.linear(x)


def spread():
    """Busy 1, 2 and 3 ms in turn: calls that vary (robust CV ~0.4) around a median that never moves."""
    return Timed(lambda n: 1 + n % 3).eval()


def warming():
    """3 ms falling to 1 ms over the first 250 calls, flat after: a warm-up that outlasts the warm-up window, so the
    median moves through the first steady-state window."""
    return Timed(lambda n: 1 + 2 * max(0.0, 1 - n / 250)).eval()
'''
TIMING = TimingPolicy(warmup_count=2, warmup_s=0.0, min_samples=20, min_duration_s=0.5, max_duration_s=5.0)


def _measured(home, name: str) -> dict:
    import edgepick

    (home.parent / "timed_models.py").write_text(MODELS)
    run = edgepick.pick(f"timed_models:{name}", runtimes=["torch-eager"], precisions="fp32", threads=[1],
                        batches=[1], timing=TIMING, exhaustive=True)
    row = run.rows[0]
    assert row["status"] == "ok", row.get("reason")
    return row


def test_a_median_that_moved_in_its_window_is_measured_again_longer_in_its_own_worker(home):
    row = _measured(home, "warming")
    assert row["noise"]["extended"] is True and row["noise"]["first_ci_halfwidth"] > 0.05
    # one worker: the re-measure ran in it (twice the duration), no second process was started
    assert row["latency_ms"]["samples"] >= 2 * TIMING.min_samples
    assert row["latency_ms"]["p50"] < 1.3  # the second window is past the warm-up: the 1 ms the model settles at
    job = json.loads(next((home / "runs").glob("*/torch-eager_fp32_t1_b1/job.json")).read_text())
    assert job["timing"]["min_samples"] == TIMING.min_samples  # a re-measure in a fresh worker writes one of 40


def test_calls_that_vary_around_a_steady_median_are_not_measured_again(home):
    # the rule before: robust CV > 10% re-measured this row, and the longer window varied just as much
    row = _measured(home, "spread")
    assert row["latency_ms"]["robust_cv"] > 0.10
    assert row["noise"]["extended"] is False
    assert any(w.startswith("robust CV ") and "median is steady" in w for w in row["noise"]["warnings"])
