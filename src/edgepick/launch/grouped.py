"""Shared workers (issue 23): a runtime's configurations of one artifact measured in turn in one process.

A sweep's search (sweep/search.py) asks `measure(jobs)` for every configuration of a runtime and artifact (batch
sizes, precisions, thread counts); one worker (worker/shared_group.py) measures them in turn, paying the framework's
import once: each member is probed against its bar and, unless clearly slower, measured in full as it would be
alone (steady state, eval outputs). The sweep's usual `launch(job)` for a member then returns that result instead
of starting a worker, so the rest of the sweep (noise notes, static-compile retries, the judge) reads it as any
other. A member that failed, crashed or was never reached (a crash or the timeout came first) is measured alone as
before: a crash in one configuration loses none of the others, and a failure is never blamed on what an earlier
member left in the process. Isolation between runtimes stays: one runtime, one artifact per process. Only for the
local launcher: a fleet device measures each job alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgepick.core import envs, errors
from edgepick.launch import memcap
from edgepick.launch.base import Caps, Launcher
from edgepick.launch.subprocess import spawn_capped
from edgepick.measure import noise

# What makes a result measured ahead the answer to a later launch: the same configuration into the same folder.
_SAME = ("runtime", "threads", "batch", "cores", "inputs")


def _identity(job: dict, out_dir: Path) -> tuple:
    artifact = job["artifact"]
    return (str(out_dir), artifact["path"], artifact.get("meta", {}).get("run_precision"),
            *(json.dumps(job.get(k), sort_keys=True) for k in _SAME))


class SharedWorkers:
    """A launcher that answers launches of members a shared worker already measured (or pruned)."""

    def __init__(self, inner: Launcher) -> None:
        self.inner = inner
        self.device = inner.device
        self.ready: dict[tuple, dict] = {}
        self.groups: list[dict] = []  # what each shared worker did, for the run's search summary

    def launch(self, job: dict, out_dir: Path, caps: Caps) -> dict:
        found = self.ready.pop(_identity(job, out_dir), None)
        return found if found is not None else self.inner.launch(job, out_dir, caps)

    def measure(self, jobs: list[tuple[dict, Path]], caps: Caps) -> int:
        """Measure `jobs` (each with its out_dir) in one worker; returns how many it answered (measured or
        pruned). `caps.timeout_s` is the whole group's."""
        try:
            launch = envs.worker_launch(jobs[0][0])
            if len(jobs) < 2 or any(envs.worker_launch(job) != launch for job, _ in jobs):
                return 0  # thread counts some frameworks read at import differ: those cannot share a process
            return self._measure(jobs, caps, launch)
        except (errors.CandidateFailure, OSError) as e:  # e.g. the runtime's venv is missing: each member alone
            self.groups.append({"runtime": jobs[0][0]["runtime"], "members": len(jobs), "pruned": 0, "measured": 0,
                                "error": errors.first_line(e, 200, empty=type(e).__name__)})
            return 0  # says it again, as its own classified row

    def _measure(self, jobs: list[tuple[dict, Path]], caps: Caps, launch: tuple[str, dict]) -> int:
        mechanism = memcap.choose(caps.memory_limit, caps.memory_mechanism)
        members = [self._member(job, out_dir, caps, mechanism) for job, out_dir in jobs]
        group_dir = jobs[0][1].parent / f"shared-worker-{len(self.groups)}"
        group_dir.mkdir(parents=True, exist_ok=True)
        (group_dir / "group.json").write_text(json.dumps({"members": members}))
        python, overrides = launch
        env = dict(os.environ, PYTHONUNBUFFERED="1", EDGEPICK_WORKER_ROLE="measure", **overrides)
        before = noise.machine_load(reuse_within_s=noise.REUSE_WITHIN_S)
        outcome = spawn_capped(python, "edgepick.worker.shared_group", group_dir / "group.json", group_dir,
                               caps.timeout_s, caps.memory_limit, mechanism, env)
        after = noise.machine_load()
        counts = {"pruned": 0, "measured": 0}
        for (job, out_dir), member in zip(jobs, members):
            result = _read(Path(member["result"]))
            if result.get("status") == "ok" and not outcome.oom:
                result.update(load_before=before, load_after=after, memory_cap=_cap(caps, mechanism))
                self.ready[_identity(job, out_dir)] = result
                counts["pruned" if (result.get("probe") or {}).get("pruned") else "measured"] += 1
        self.groups.append({"runtime": jobs[0][0]["runtime"], "members": len(jobs), **counts,
                            "wall_s": round(outcome.wall_s, 2), "timed_out": outcome.timed_out})
        return sum(counts.values())

    @staticmethod
    def _member(job: dict, out_dir: Path, caps: Caps, mechanism: str | None) -> dict:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("result.json", "outputs.npz"):
            (out_dir / stale).unlink(missing_ok=True)
        member = dict(job, result=str(out_dir / "result.json"), outputs=str(out_dir / "outputs.npz"))
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
