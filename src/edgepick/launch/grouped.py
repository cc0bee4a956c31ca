"""Shared probe workers (issue 23): several configurations of one runtime and artifact probed in one process.

A sweep's search (sweep/search.py) asks `probe(jobs)` for the configurations of a runtime that have a bar to race
against; one worker (worker/probe_group.py) probes them in turn, paying the framework's import once. The results of
the members it found clearly slower are kept, and the sweep's usual `launch(job)` for such a member returns that
result instead of starting a worker: the rest of the sweep (noise notes, static-compile retries, the judge) reads it
as any other. Every other member (a contender, a failure, one a crash or the timeout never reached) is measured as
before, alone: a crash in one configuration loses none of the others, and a row that can be picked never carries a
figure from a shared process. Only for the local launcher: a fleet device measures each job alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgepick.core import envs, errors
from edgepick.launch import memcap
from edgepick.launch.base import Caps, Launcher
from edgepick.launch.subprocess import spawn_capped

# What makes a prefetched result the answer to a later launch: the same configuration into the same folder.
_SAME = ("runtime", "threads", "batch", "cores", "inputs")


def _identity(job: dict, out_dir: Path) -> tuple:
    artifact = job["artifact"]
    return (str(out_dir), artifact["path"], artifact.get("meta", {}).get("run_precision"),
            *(json.dumps(job.get(k), sort_keys=True) for k in _SAME))


class ProbeGroups:
    """A launcher that answers launches of members already found clearly slower by a shared probe worker."""

    def __init__(self, inner: Launcher) -> None:
        self.inner = inner
        self.device = inner.device
        self.ready: dict[tuple, dict] = {}
        self.groups: list[dict] = []  # what each shared worker did, for the run's search summary

    def launch(self, job: dict, out_dir: Path, caps: Caps) -> dict:
        found = self.ready.pop(_identity(job, out_dir), None)
        return found if found is not None else self.inner.launch(job, out_dir, caps)

    def probe(self, jobs: list[tuple[dict, Path]], caps: Caps, load) -> int:
        """Probe `jobs` (each with its out_dir) in one worker; returns how many were found clearly slower. `load` is
        the machine-load sampler the sweep's noise notes use (measure/noise.machine_load)."""
        try:
            launch = envs.worker_launch(jobs[0][0])
            if len(jobs) < 2 or any(envs.worker_launch(job) != launch for job, _ in jobs):
                return 0  # thread counts some frameworks read at import differ: those cannot share a process
            return self._probe(jobs, caps, load, launch)
        except (errors.CandidateFailure, OSError) as e:  # e.g. the runtime's venv is missing: each member alone
            self.groups.append({"runtime": jobs[0][0]["runtime"], "members": len(jobs), "pruned": 0,
                                "error": errors.first_line(e, 200, empty=type(e).__name__)})
            return 0  # says it again, as its own classified row

    def _probe(self, jobs: list[tuple[dict, Path]], caps: Caps, load, launch: tuple[str, dict]) -> int:
        mechanism = memcap.choose(caps.memory_limit, caps.memory_mechanism)
        members = [self._member(job, out_dir, caps, mechanism) for job, out_dir in jobs]
        group_dir = jobs[0][1].parent / f"probe-group-{len(self.groups)}"
        group_dir.mkdir(parents=True, exist_ok=True)
        (group_dir / "group.json").write_text(json.dumps({"members": members}))
        python, overrides = launch
        env = dict(os.environ, PYTHONUNBUFFERED="1", EDGEPICK_WORKER_ROLE="measure", **overrides)
        before = load()
        outcome = spawn_capped(python, "edgepick.worker.probe_group", group_dir / "group.json", group_dir,
                               caps.timeout_s * len(jobs), caps.memory_limit, mechanism, env)
        after = load()
        pruned = 0
        for (job, out_dir), member in zip(jobs, members):
            result = _read(Path(member["result"]))
            if result.get("status") == "ok" and (result.get("probe") or {}).get("pruned") and not outcome.oom:
                result.update(load_before=before, load_after=after, memory_cap=_cap(caps, mechanism))
                self.ready[_identity(job, out_dir)] = result
                pruned += 1
        self.groups.append({"runtime": jobs[0][0]["runtime"], "members": len(jobs), "pruned": pruned,
                            "wall_s": round(outcome.wall_s, 2), "timed_out": outcome.timed_out})
        return pruned

    @staticmethod
    def _member(job: dict, out_dir: Path, caps: Caps, mechanism: str | None) -> dict:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("result.json", "outputs.npz"):
            (out_dir / stale).unlink(missing_ok=True)
        member = dict(job, probe_only=True, result=str(out_dir / "result.json"), outputs=str(out_dir / "outputs.npz"))
        if mechanism == "rlimit-as":
            member["rlimit_as_bytes"] = caps.memory_limit
        return member


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # never written: the crash or the timeout came first
        return {"status": "failed", "reason_class": errors.CRASH}


def _cap(caps: Caps, mechanism: str | None) -> dict | None:
    return {"limit_mb": caps.memory_limit / 2**20, "mechanism": mechanism} if caps.memory_limit else None
