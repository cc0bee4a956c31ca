"""Run one candidate's worker as a spawned process with a hard timeout, CPU affinity and a memory cap.

spawn_capped() is the one way edgepick runs anything the user controls outside its own code: the measurement worker
here, and the reference, input synthesis and conversions (launch/isolated.py) under the same timeout and cap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from edgepick.core import envs, errors
from edgepick.launch import memcap


@dataclass
class Outcome:
    returncode: int
    timed_out: bool
    oom: bool
    wall_s: float


def run_worker(job: dict, work_dir: Path, timeout_s: float, memory_limit: int | None = None,
               memory_mechanism: str = "auto", module: str = "edgepick.worker.measure",
               launch: tuple[str, dict[str, str]] | None = None) -> dict:
    """Return the worker's result dict; failures the worker could not report are classified here.

    `module` is the worker run with `python -m` (training uses edgepick.train.worker); `launch` gives its
    (python, env overrides) directly instead of looking the job's runtime up in the registry."""
    work_dir.mkdir(parents=True, exist_ok=True)
    mechanism = memcap.choose(memory_limit, memory_mechanism)
    job = dict(job, result=str(work_dir / "result.json"), outputs=str(work_dir / "outputs.npz"))
    if mechanism == "rlimit-as":
        job["rlimit_as_bytes"] = memory_limit
    (work_dir / "job.json").write_text(json.dumps(job))
    for stale in ("result.json", "outputs.npz"):
        (work_dir / stale).unlink(missing_ok=True)
    try:  # a runtime may name its own venv (core/envs.py) and env variables read at import (thread counts)
        python, overrides = launch if launch is not None else envs.worker_launch(job)
    except errors.CandidateFailure as e:
        return {"status": "failed", "reason_class": e.reason_class, "reason": e.message}
    env = dict(os.environ, PYTHONUNBUFFERED="1", EDGEPICK_WORKER_ROLE="measure", **overrides)
    outcome = spawn_capped(python, module, work_dir / "job.json", work_dir, timeout_s, memory_limit,
                           mechanism, env)
    result_path = Path(job["result"])
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    result["worker_wall_s"] = outcome.wall_s
    result["memory_cap"] = {"limit_mb": memory_limit / 2**20, "mechanism": mechanism} if memory_limit else None
    if result.get("status"):
        if outcome.oom and result["status"] == "ok":
            result.update(status="failed", reason_class=errors.OOM, reason=_oom_text(memory_limit, mechanism))
        return result
    why = classify(outcome, work_dir / "worker.log", timeout_s, memory_limit, mechanism)
    result.update(status="failed", reason_class=why[0], reason=why[1])
    return result


def spawn_capped(python: str, module: str, job_file: Path, work_dir: Path, timeout_s: float, memory_limit: int | None,
                 mechanism: str | None, env: dict) -> Outcome:
    """Run `python -m module job_file` in its own session, tied to this process, under the timeout and memory cap."""
    return CappedProcess(python, module, job_file, work_dir, memory_limit, mechanism, env).wait(timeout_s)


class CappedProcess:
    """A worker started under the memory cap, in its own session, tied to this process; `wait` gives it its timeout.

    Started apart from its wait for the shared workers that import their framework ahead (launch/grouped.py): those
    read one line from stdin (`stdin=True`) before measuring, and end quietly at its EOF."""

    def __init__(self, python: str, module: str, job_file: Path, work_dir: Path, memory_limit: int | None,
                 mechanism: str | None, env: dict, stdin: bool = False) -> None:
        self.cap = self.watchdog = None
        if mechanism == "cgroup-v2":
            self.cap = memcap.CgroupCap(f"edgepick-{os.getpid()}-{work_dir.name}", memory_limit)
        self.started = time.monotonic()
        self.log = open(work_dir / "worker.log", "wb")
        # The worker runs in its own session (a terminal's Ctrl-C reaches the parent only, which stops it below) and
        # under worker/child.py, which ties it to this process: if the parent is SIGKILLed, the kernel kills it too.
        self.proc = subprocess.Popen([python, "-m", "edgepick.worker.child", str(os.getpid()), module, str(job_file)],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                     stdin=subprocess.PIPE if stdin else None)
        if self.cap:
            self.cap.add(self.proc.pid)
        elif mechanism == "rss-watchdog":
            self.watchdog = memcap.RssWatchdog(self.proc.pid, memory_limit)

    def send(self, line: str) -> bool:
        """One line to the worker's stdin, then its EOF; False where the worker is gone already."""
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.close()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def wait(self, timeout_s: float, since: float | None = None) -> Outcome:
        """Wait at most `timeout_s`, then kill its session; the wall time counts from `since` (default: its start)."""
        timed_out = False
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(self.proc)
        except BaseException:  # Ctrl-C (or any error) in the parent: the worker must not go on measuring unattended
            self.kill()
            raise
        oom = bool((self.cap and self.cap.tripped()) or (self.watchdog and self.watchdog.tripped()))
        self._release()
        return Outcome(self.proc.returncode, timed_out, oom, time.monotonic() - (since or self.started))

    def kill(self) -> None:
        kill_group(self.proc)
        self._release()

    def _release(self) -> None:
        if self.watchdog:
            self.watchdog.stop()
            self.watchdog = None
        if self.cap:
            self.cap.remove()
            self.cap = None
        self.log.close()


def classify(outcome: Outcome, log: Path, timeout_s: float, memory_limit: int | None, mechanism: str | None) -> tuple[str, str]:
    """(reason class, reason) for a worker that ended without writing its result."""
    tail = _tail(log)
    if outcome.timed_out:
        return errors.TIMEOUT, f"no result within the {timeout_s:g} s timeout; killed"
    if outcome.oom or "bad_alloc" in tail or "MemoryError" in tail:
        return errors.OOM, _oom_text(memory_limit, mechanism)
    if outcome.returncode < 0:
        sig = signal.Signals(-outcome.returncode)
        if sig == signal.SIGKILL:  # nobody here sent it: on Linux that is the kernel's OOM killer
            return errors.OOM, "worker killed by SIGKILL (the kernel's OOM killer, most likely)"
        return errors.CRASH, f"worker killed by {sig.name}" + (f": {tail}" if tail else "")
    return errors.CRASH, f"worker exited with code {outcome.returncode} and no result" + (f": {tail}" if tail else "")


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's whole session (it may have started processes of its own) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _oom_text(limit: int | None, mechanism: str | None) -> str:
    if not limit:
        return "ran out of memory"
    return f"does not fit in {_human(limit)} (memory cap, {mechanism})"


def _human(n: int) -> str:
    if n % 10**6 == 0:  # the user typed decimal units (--memory-limit 1GB = 10**9 bytes): say it back that way
        return f"{n / 10**9:g} GB" if n >= 10**9 else f"{n / 10**6:g} MB"
    return f"{n / 2**30:g} GB" if n >= 2**30 else f"{n / 2**20:g} MB"


def _tail(path: Path, limit: int = 240) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").strip().splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][-limit:] if lines else ""
