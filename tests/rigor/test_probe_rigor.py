"""The rigor passes around a probed worker (issue 23): a pruned probe is never re-measured longer or cold-started;
an unsteady contender still is."""

from __future__ import annotations

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
