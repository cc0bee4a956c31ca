"""One worker probes several configurations of one runtime and artifact in turn (issue 23): the framework is
imported once, not once per row. `python -m edgepick.worker.probe_group group.json`.

Each member is a measurement job with `probe_only` (worker/measure.py): load, first inference, the search's probe
against the bar it was given, and, when clearly slower, its eval outputs for the equivalence check; a contender
stops after its probe and is measured in full later in a worker of its own (launch/grouped.py), so every figure
of a row that can be picked comes from a fresh process as before. Members write their results one by one, so a
crash in one configuration loses none measured before it; the parent measures the rest alone.

The import is paid by the first member only: every member's `import_s` is that first import (what importing this
framework in a fresh process costs), its `baseline_rss_mb` the process's before it, and its peak RSS is reset
before it runs (Linux's clear_refs), so it counts what that member held on top of the framework and whatever
earlier members left behind; `probe.shared_worker` says so in the row.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from edgepick.core.procmem import write_result
from edgepick.worker.measure import run_one


def _reset_peak_rss() -> bool:
    """Start the peak RSS (VmHWM) afresh from the current RSS; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_group(members: list[dict]) -> None:
    first: dict = {}
    for position, job in enumerate(members):
        reset = position == 0 or _reset_peak_rss()
        started = time.perf_counter()
        result = run_one(job)
        result["worker_wall_s"] = time.perf_counter() - started
        if position == 0:
            first = {"import_s": result.get("import_s"), "baseline_rss_mb": result.get("baseline_rss_mb")}
        else:  # the framework was imported by the first member: its cost and the process before it are the row's
            result["worker_wall_s"] += first["import_s"] or 0.0
            result.update(first)
            if not reset:
                result["peak_rss_mb"] = None  # the process's peak over every member so far says nothing of this one
        if isinstance(result.get("probe"), dict):
            result["probe"]["shared_worker"] = {"members": len(members), "position": position + 1}
        write_result(Path(job["result"]), result)


def main(argv: list[str]) -> int:
    run_group(json.loads(Path(argv[0]).read_text())["members"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
