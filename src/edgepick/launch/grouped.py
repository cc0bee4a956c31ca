"""Shared workers (issue 23): a runtime's configurations of one artifact measured in turn in one process.

A sweep's search (sweep/search.py) asks `measure(jobs)` for every configuration of a runtime and artifact (batch
sizes, precisions, thread counts); one worker (worker/shared_group.py) measures them in turn, paying the framework's
import once: each member is probed against its bar and, unless clearly slower, measured in full as it would be
alone (steady state, eval outputs). The sweep's usual `launch(job)` for a member then returns that result instead
of starting a worker, so the rest of the sweep (noise notes, static-compile retries, the judge) reads it as any
other. A member that crashed or was never reached (a crash or the timeout came first) is measured alone as before,
and so is one that failed after another member ran in its process: a crash in one configuration loses none of the
others, and a failure is never blamed on what an earlier member left in the process (the first member's failure is
its own). Isolation between runtimes stays: one runtime, one artifact per process. Only for the local launcher: a
fleet device measures each job alone.

Imports ahead: the search tells `plan()` which groups come, in order. When a group's turn comes and its worker is
not started yet, it and the next ones (as many as free memory lets wait at once, see `held_count`) are started and
import their frameworks, then load the group's first configuration and run its first inference (a lazy compiler
compiles there), as many side by side as the cores allowed (`ahead_count`), the next starting as soon as one is
done, so no core waits for the slowest of a batch, and a worker starts only while memory is free for it
(`_room_for`); only when every one of them is ready (or died) is the first sent its group, so this work overlaps
other workers' and never a measurement. The next groups then find their workers ready and waiting (blocked on
stdin: asleep, no CPU). A worker not needed in the end is sent EOF and ends.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from edgepick.core import envs, errors
from edgepick.core.artifact import Artifact
from edgepick.launch import memcap
from edgepick.launch.base import Caps, Launcher
from edgepick.launch.subprocess import CappedProcess
from edgepick.measure import noise

# What makes a result measured ahead the answer to a later launch: the same configuration into the same folder.
_SAME = ("runtime", "threads", "batch", "cores", "inputs")


def _identity(job: dict, out_dir: Path) -> tuple:
    artifact = job["artifact"]
    return (str(out_dir), artifact["path"], artifact.get("meta", {}).get("run_precision"),
            *(json.dumps(job.get(k), sort_keys=True) for k in _SAME))


def group_key(job: dict) -> tuple[str, str]:
    """A shared worker's group: one runtime, one artifact."""
    return job["runtime"], job["artifact"]["path"]


@dataclass
class Upcoming:
    """A group the search will measure: one of its members' jobs (the runtime's interpreter, env and cores)."""

    job: dict
    run_dir: Path


def ahead_count(cores: int, available_bytes: int | None) -> int:
    """How many workers import at once: one per allowed core, at most 4, and never more than may wait at once."""
    return max(1, min(cores, 4, held_count(available_bytes)))


MAX_HELD = 16  # imported workers waiting their turn at once, at most


def held_count(available_bytes: int | None) -> int:
    """How many imported workers may wait their turn at once: one per GiB of free memory, at most MAX_HELD (each
    holds its framework's memory, up to 0.7 GiB for TensorFlow: a small board must not swap for it)."""
    return max(1, min(MAX_HELD, available_bytes // 2**30)) if available_bytes else 1


@dataclass
class _Started:
    process: CappedProcess
    group_dir: Path
    imported: int = 0  # imported ahead: how many workers imported side by side (itself included); 0: not ahead


class SharedWorkers:
    """A launcher that answers launches of members a shared worker already measured (or pruned)."""

    def __init__(self, inner: Launcher, ahead: int = 1, held: int | None = None) -> None:
        self.inner = inner
        self.device = inner.device
        self.ahead = ahead  # importing side by side
        self.held = max(ahead, held or ahead)  # imported and waiting, at most
        self.ready: dict[tuple, dict] = {}
        self.groups: list[dict] = []  # what each shared worker did, for the run's search summary
        self.upcoming: list[Upcoming] = []
        self.started: dict[tuple, _Started] = {}
        self.used: set[tuple] = set()  # groups whose worker has been taken: a later round of one starts afresh
        self._dirs = 0

    def plan(self, upcoming: list[Upcoming]) -> None:
        self.upcoming = list(upcoming)

    def close(self) -> None:
        """End the workers started ahead and never used (EOF: each ends by itself; killed if it does not)."""
        for started in self.started.values():
            started.process.send("")  # not "go": it ends by itself
            started.process.wait(5.0)  # and is killed if it does not
        self.started.clear()

    def launch(self, job: dict, out_dir: Path, caps: Caps) -> dict:
        found = self.ready.pop(_identity(job, out_dir), None)
        return found if found is not None else self.inner.launch(job, out_dir, caps)

    def measure(self, jobs: list[tuple[dict, Path]], caps: Caps) -> int:
        """Measure `jobs` (each with its out_dir) in one worker; returns how many it answered (measured, pruned,
        or failed as the process's first member). `caps.timeout_s` is the whole group's, from when it is sent."""
        if not jobs:
            return 0
        try:
            launch = envs.worker_launch(jobs[0][0])
            if any(envs.worker_launch(job) != launch for job, _ in jobs):
                return 0  # thread counts some frameworks read at import differ: those cannot share a process
            return self._measure(jobs, caps, launch)
        except (errors.CandidateFailure, OSError) as e:  # e.g. the runtime's venv is missing: each member alone
            self.groups.append({"runtime": jobs[0][0]["runtime"], "members": len(jobs), "pruned": 0, "measured": 0,
                                "error": errors.first_line(e, 200, empty=type(e).__name__)})
            return 0  # says it again, as its own classified row

    def _measure(self, jobs: list[tuple[dict, Path]], caps: Caps, launch: tuple[str, dict]) -> int:
        mechanism = memcap.choose(caps.memory_limit, caps.memory_mechanism)
        members = [self._member(job, out_dir, caps, mechanism) for job, out_dir in jobs]
        started = self._imported(group_key(jobs[0][0]), caps, mechanism)
        beside = started.imported - 1 if started else 0
        before = noise.machine_load(reuse_within_s=noise.REUSE_WITHIN_S)
        go = time.monotonic()
        if started is None:  # not planned, or its import died: started here and now, the group file given at once
            group_dir = self._group_dir(jobs[0][1].parent)
            (group_dir / "group.json").write_text(json.dumps({"members": members}))
            python, overrides = launch
            started = _Started(CappedProcess(python, "edgepick.worker.shared_group", group_dir / "group.json",
                                             group_dir, caps.memory_limit, mechanism, _env(overrides)), group_dir)
        else:
            (started.group_dir / "group.json").write_text(json.dumps({"members": members, "imported_beside": beside}))
            started.process.send("go")
        outcome = started.process.wait(caps.timeout_s, since=go)
        after = noise.machine_load()
        counts = {"pruned": 0, "deferred": 0, "measured": 0, "failed": 0}
        for position, ((job, out_dir), member) in enumerate(zip(jobs, members)):
            result = _read(Path(member["result"]))
            if outcome.oom or not _kept(result, position):
                continue
            result.update(load_before=before, load_after=after, memory_cap=_cap(caps, mechanism))
            self.ready[_identity(job, out_dir)] = result
            probe = result.get("probe") or {}
            done = "pruned" if probe.get("pruned") else "deferred" if probe.get("deferred") else "measured"
            counts["failed" if result["status"] != "ok" else done] += 1
        self.groups.append({"runtime": jobs[0][0]["runtime"], "members": len(jobs), **counts,
                            "wall_s": round(outcome.wall_s, 2), "timed_out": outcome.timed_out,
                            **({"imported_beside": beside} if started.imported else {})})
        return sum(counts.values())

    def _imported(self, key: tuple, caps: Caps, mechanism: str | None) -> _Started | None:
        """The group's worker, its framework imported: started now with the next planned ones if it is not yet."""
        keys = [group_key(u.job) for u in self.upcoming]
        if key not in self.started and key in keys and key not in self.used:  # used: a second round starts now
            batch = [u for u in self.upcoming[keys.index(key):]
                     if group_key(u.job) not in self.started and group_key(u.job) not in self.used]
            self._import_ahead(batch[:self.held], caps, mechanism)
        self.used.add(key)
        started = self.started.pop(key, None)
        if started is not None and not started.imported:
            started.process.kill()
            return None
        return started

    def _import_ahead(self, batch: list[Upcoming], caps: Caps, mechanism: str | None) -> None:
        """Start `batch`'s workers, `self.ahead` getting ready at a time (import, first configuration's load and
        first inference), the next as soon as one is ready or died; return when all are. `imported` then counts the
        workers made ready side by side. One still busy after `caps.timeout_s` would run beside the measurements:
        it is ended, its group measured alone."""
        side_by_side, pending, running = min(self.ahead, len(batch)), list(batch), []
        while pending or running:
            while pending and len(running) < side_by_side:
                if not _room_for(pending[0].job):  # the rest start in their turn, when memory was freed
                    pending.clear()
                    break
                started = self._start_ahead(pending.pop(0), caps, mechanism)
                if started is not None:
                    running.append((started, time.monotonic() + caps.timeout_s))
            for started, deadline in list(running):
                if (started.group_dir / "imported.json").exists():
                    started.imported = side_by_side
                elif started.process.proc.poll() is None and time.monotonic() < deadline:
                    continue
                elif started.process.proc.poll() is None:
                    started.process.kill()
                running.remove((started, deadline))
            time.sleep(0.02)

    def _start_ahead(self, upcoming: Upcoming, caps: Caps, mechanism: str | None) -> _Started | None:
        group_dir = self._group_dir(upcoming.run_dir)
        job = upcoming.job
        first = dict(job, **({"rlimit_as_bytes": caps.memory_limit} if mechanism == "rlimit-as" else {}))
        spec = {"runtime": job["runtime"], "cores": job.get("cores"), "group": str(group_dir / "group.json"),
                "imported": str(group_dir / "imported.json"), "first": first}
        (group_dir / "ahead.json").write_text(json.dumps(spec))
        try:
            python, overrides = envs.worker_launch(job)
        except errors.CandidateFailure:
            return None  # its members say it as their own rows
        process = CappedProcess(python, "edgepick.worker.shared_group", group_dir / "ahead.json", group_dir,
                                caps.memory_limit, mechanism, _env(overrides), stdin=True)
        self.started[group_key(job)] = _Started(process, group_dir)
        return self.started[group_key(job)]

    def _group_dir(self, run_dir: Path) -> Path:
        group_dir = run_dir / f"shared-worker-{self._dirs}"
        self._dirs += 1
        group_dir.mkdir(parents=True, exist_ok=True)
        return group_dir

    @staticmethod
    def _member(job: dict, out_dir: Path, caps: Caps, mechanism: str | None) -> dict:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("result.json", "outputs.npz"):
            (out_dir / stale).unlink(missing_ok=True)
        member = dict(job, result=str(out_dir / "result.json"), outputs=str(out_dir / "outputs.npz"))
        if mechanism == "rlimit-as":
            member["rlimit_as_bytes"] = caps.memory_limit
        return member


def _room_for(job: dict) -> bool:
    """Whether one more worker may wait prepared: a framework (up to 0.7 GiB) and the loaded model (taken as three
    times its files: the files, their compiled form, the arenas) fit in the memory free now."""
    import psutil

    size = Artifact.from_dict(job["artifact"]).size_bytes() or 0  # with its weights files (OpenVINO .bin, ONNX data)
    return psutil.virtual_memory().available >= 2**30 + 3 * size


def _env(overrides: dict) -> dict:
    return dict(os.environ, PYTHONUNBUFFERED="1", EDGEPICK_WORKER_ROLE="measure", **overrides)


def _kept(result: dict, position: int) -> bool:
    """Measured or pruned; or failed as the process's first member, where nothing ran before it to blame."""
    return result.get("status") == "ok" or (position == 0 and result.get("status") == "failed")


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # never written: the crash or the timeout came first
        return {}


def _cap(caps: Caps, mechanism: str | None) -> dict | None:
    return {"limit_mb": caps.memory_limit / 2**20, "mechanism": mechanism} if caps.memory_limit else None
