"""Run one candidate's worker as a spawned process with a hard timeout, CPU affinity and a memory cap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from edgepick import envs, errors
from edgepick.launch import memcap


def run_worker(job: dict, work_dir: Path, timeout_s: float, memory_limit: int | None = None,
               memory_mechanism: str = "auto") -> dict:
    """Return the worker's result dict; failures the worker could not report are classified here."""
    work_dir.mkdir(parents=True, exist_ok=True)
    mechanism = memcap.choose(memory_limit, memory_mechanism)
    job = dict(job, result=str(work_dir / "result.json"), outputs=str(work_dir / "outputs.npz"))
    if mechanism == "rlimit-as":
        job["rlimit_as_bytes"] = memory_limit
    (work_dir / "job.json").write_text(json.dumps(job))
    for stale in ("result.json", "outputs.npz"):
        (work_dir / stale).unlink(missing_ok=True)
    try:  # a runtime may name its own venv (envs.py) and env variables read at import (thread counts)
        python, overrides = envs.worker_launch(job)
    except errors.CandidateFailure as e:
        return {"status": "failed", "reason_class": e.reason_class, "reason": e.message}
    log = open(work_dir / "worker.log", "wb")
    env = dict(os.environ, PYTHONUNBUFFERED="1", **overrides)
    cap = watchdog = None
    if mechanism == "cgroup-v2":
        cap = memcap.CgroupCap(f"edgepick-{os.getpid()}-{work_dir.name}", memory_limit)
    started = time.monotonic()
    # The worker runs in its own session (a terminal's Ctrl-C reaches the parent only, which stops it below) and
    # under launch/child.py, which ties it to this process: if the parent is SIGKILLed, the kernel kills it too.
    proc = subprocess.Popen([python, "-m", "edgepick.launch.child", str(os.getpid()), "edgepick.measure.worker",
                             str(work_dir / "job.json")],
                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    if cap:
        cap.add(proc.pid)
    elif mechanism == "rss-watchdog":
        watchdog = memcap.RssWatchdog(proc.pid, memory_limit)
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc)
    except BaseException:  # Ctrl-C (or any error) in the parent: the worker must not go on measuring unattended
        kill_group(proc)
        if cap:
            cap.remove()
        raise
    finally:
        log.close()
        if watchdog:
            watchdog.stop()
    wall = time.monotonic() - started
    oom = bool((cap and cap.tripped()) or (watchdog and watchdog.tripped()))
    if cap:
        cap.remove()
    result_path = Path(job["result"])
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    result["worker_wall_s"] = wall
    result["memory_cap"] = {"limit_mb": memory_limit / 2**20, "mechanism": mechanism} if memory_limit else None
    if result.get("status"):
        if oom and result["status"] == "ok":
            result.update(status="failed", reason_class=errors.OOM, reason=_oom_text(memory_limit, mechanism))
        return result
    tail = _tail(work_dir / "worker.log")
    if timed_out:
        why = (errors.TIMEOUT, f"no result within the {timeout_s:.0f} s timeout; killed")
    elif oom or "bad_alloc" in tail or "MemoryError" in tail:
        why = (errors.OOM, _oom_text(memory_limit, mechanism))
    elif proc.returncode < 0:
        sig = signal.Signals(-proc.returncode)
        if sig == signal.SIGKILL:  # nobody here sent it: on Linux that is the kernel's OOM killer
            why = (errors.OOM, "worker killed by SIGKILL (the kernel's OOM killer, most likely)")
        else:
            why = (errors.CRASH, f"worker killed by {sig.name}" + (f": {tail}" if tail else ""))
    else:
        why = (errors.CRASH, f"worker exited with code {proc.returncode} and no result" + (f": {tail}" if tail else ""))
    result.update(status="failed", reason_class=why[0], reason=why[1])
    return result


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
