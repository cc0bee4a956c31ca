"""One worker measures several configurations of one runtime and artifact in turn (issue 23): the framework is
imported once, not once per row. `python -m edgepick.worker.shared_group group.json`.

Each member is the measurement job it would be alone (worker/measure.py): load, first inference, the search's probe
against its bar, then either (clearly slower) its eval outputs, or the full steady state and eval outputs. Members
write their results one by one, so a crash in one configuration loses none measured before it; the parent measures
the rest alone (launch/grouped.py).

What a shared process changes, and how the row says so (`probe.shared_worker`, its position): the import is paid
by the first member only, so every member's `import_s` is that first import (what importing this framework in a
fresh process costs) and its `baseline_rss_mb` the process's before it; each member's peak RSS is reset before it
runs (Linux's clear_refs), so it counts what that member held on top of the framework and whatever earlier members
left behind (None where the kernel refuses the reset); a later member's first inference runs in a process whose
framework is already initialised (its own session and shapes are still new).

Imported ahead (`python -m edgepick.worker.shared_group ahead.json`): the worker imports its framework as soon as it
starts, then loads its first member and runs its first inference (a lazy compiler compiles there: torch.compile's
cold build took 18-24 s on the corpus models), says so (the `imported` file), and waits for one line on stdin; the
parent starts such workers a few at a time, so this work overlaps other workers' and never a measurement, and sends
"go" once the group's file is written (EOF instead: not needed after all, it ends). The import, load and first
inference are then the ones taken ahead, beside the others (`imported_beside`, `prepared_ahead` on the row). The
first member's preparation is used only when the group's first member is the same load (`SAME_LOAD`); else it is
closed and the member prepared in its turn.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from edgepick.core.procmem import rss_mb, write_result
from edgepick.core.registry import RUNTIMES
from edgepick.worker.measure import prepare_early, run_one


def _reset_peak_rss() -> bool:
    """Start the peak RSS (VmHWM) afresh from the current RSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


# What a member's load depends on: a preparation made ahead serves a member that agrees on all of them.
SAME_LOAD = ("runtime", "artifact", "threads", "batch", "cores", "inputs", "rlimit_as_bytes")


def run_group(members: list[dict], ahead: dict | None = None, ready: dict | None = None) -> None:
    """Each member in turn, its result written before the next starts. `ready`: the first member's preparation
    made ahead (`prepare_ahead`), used where the first member is that load."""
    first: dict = {}
    for position, job in enumerate(members):
        reset = position == 0 or _reset_peak_rss()
        started = time.perf_counter()
        early = _ready_for(job, ready) if position == 0 else None  # its load and first inference, made ahead
        result = run_one(job, early)
        result["worker_wall_s"] = time.perf_counter() - started
        if position == 0 and ahead:  # its framework was imported (and it maybe prepared) before the job came
            result["worker_wall_s"] += ahead["import_s"] + (ready["prepare_s"] if early else 0.0)
            result.update(import_s=ahead["import_s"], baseline_rss_mb=ahead["baseline_rss_mb"])
        if position == 0:
            first = {"import_s": result.get("import_s"), "baseline_rss_mb": result.get("baseline_rss_mb")}
        else:  # the framework was imported by the first member: its cost and the process before it are the row's
            result["worker_wall_s"] += first["import_s"] or 0.0
            result.update(first)
            if not reset:
                result["peak_rss_mb"] = None  # the process's peak over every member so far says nothing of this one
        if isinstance(result.get("probe"), dict):
            result["probe"]["shared_worker"] = {"members": len(members), "position": position + 1}
            if ahead:
                result["probe"]["shared_worker"]["imported_beside"] = ahead["beside"]
            if early:
                result["probe"]["shared_worker"]["prepared_ahead"] = True
        write_result(Path(job["result"]), result)


def _ready_for(job: dict, ready: dict | None):
    """The preparation made ahead, if it is this job's load; else closed (its memory freed) and None."""
    if not ready:
        return None
    if _load_key(job) == ready["key"]:
        return ready["result"], ready["state"]
    if ready["state"] is not None:
        with contextlib.suppress(Exception):
            ready["state"].session.close()
    return None


def prepare_ahead(job: dict) -> dict:
    """The first member loaded and past its first inference now, ahead of its turn (a failure is kept, classified,
    for its turn to report)."""
    key, started = _load_key(job), time.perf_counter()  # the key first: loading fills in the artifact's meta
    result, state = prepare_early(job)
    return {"key": key, "result": result, "state": state, "prepare_s": time.perf_counter() - started}


def _load_key(job: dict) -> str:
    return json.dumps({k: job.get(k) for k in SAME_LOAD}, sort_keys=True)


def import_ahead(spec: dict) -> dict:
    """Import the runtime's framework now, on the cores it will be measured on. An import that raises is left to
    the first member's own import, which says it again as that row's classified failure."""
    if spec.get("cores"):
        os.sched_setaffinity(0, spec["cores"])
    baseline, started = rss_mb(), time.perf_counter()
    with contextlib.suppress(Exception):
        RUNTIMES.get(spec["runtime"])().import_framework()
    return {"import_s": time.perf_counter() - started, "baseline_rss_mb": baseline}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    if "members" in spec:
        run_group(spec["members"])
        return 0
    ahead = import_ahead(spec)
    ready = prepare_ahead(spec["first"]) if spec.get("first") else None
    Path(spec["imported"]).write_text(json.dumps(ahead))
    if sys.stdin.readline().strip() != "go":  # EOF: the parent no longer needs this worker
        return 0
    group = json.loads(Path(spec["group"]).read_text())
    run_group(group["members"], dict(ahead, beside=group["imported_beside"]), ready)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
