"""A worker's own memory figures and its result file: shared by the measurement worker and the training worker.

Standard library only: the training worker also runs inside the MXNet venv, which has numpy and edgepick's source
but none of the main environment's packages.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def rss_mb() -> float:
    """This process's resident set now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float | None:
    """VmHWM, this process image's own high-water mark; None where /proc does not say.

    Not ru_maxrss: Linux carries it across fork+exec, so a worker spawned by a parent holding 500 MB (torch, the
    reference) would report the parent's 500 MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def write_result(out: Path, result: dict) -> None:
    """The result JSON the parent reads, replaced in one step: a parent never reads half a file."""
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, out)
