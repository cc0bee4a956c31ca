"""Checks on a Request and on user data that must stop a run before any work: one line each, exit code 2.

Kept in one place so the CLI and the Python API (edgepick.pick) refuse the same things the same way.
"""

from __future__ import annotations

import math
import os

import numpy as np

from edgepick.errors import UserError


def is_zip_archive(path) -> bool:
    """zipfile.is_zipfile, minus its own exceptions: it raises BadZipFile for a ZIP64 record naming several disks
    (found by fuzz/ on a mutated .pt2) where a file that is no archive should simply answer False."""
    import zipfile

    try:
        return zipfile.is_zipfile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def usable_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def check_request(request) -> None:
    usable = usable_cores()
    bad_cores = [c for c in request.cores or [] if c not in usable]
    if bad_cores:
        raise UserError(f"--cores {','.join(map(str, request.cores))}: CPU(s) {','.join(map(str, bad_cores))} are not "
                        f"usable here; this machine lets edgepick use {_ids(usable)}")
    pool = request.cores or usable
    too_many = [t for t in request.threads if t > len(pool)]
    if too_many:
        where = f"--cores gives {len(pool)}" if request.cores else f"this machine lets edgepick use {len(pool)}"
        raise UserError(f"--threads {max(too_many)} is more than the cores available ({where}: {_ids(pool)}); "
                        f"give at most {len(pool)}")
    timeout = request.timeout_s
    if not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise UserError(f"--timeout {timeout}: give a positive number of seconds per candidate, e.g. --timeout 300")
    if request.memory_limit is not None and request.memory_limit <= 0:
        raise UserError("--memory-limit must be positive, e.g. 512MB")
    step = getattr(request, "step_timeout_s", None)
    if step is not None and (not isinstance(step, (int, float)) or not math.isfinite(step) or step <= 0):
        raise UserError(f"--step-timeout {step}: give a positive number of seconds per step, e.g. --step-timeout 600")
    if (getattr(request, "step_memory_limit", None) or 1) <= 0:
        raise UserError("--step-memory-limit must be positive, e.g. 2GB")
    if request.data_limit < 1:
        raise UserError(f"--data-limit {request.data_limit}: give a positive number of samples, e.g. 512")
    _check_drop(getattr(request, "max_acc_drop", None))


def _check_drop(text) -> None:
    if text is None:
        return
    from edgepick.compress.metrics import parse_drop

    tol = parse_drop(text)
    if tol.relative and not 0 <= tol.value <= 1:
        raise UserError(f"--max-acc-drop {text}: a relative drop lies between 0% and 100%, e.g. 1%")
    if not tol.relative and not (tol.value >= 0 and math.isfinite(tol.value)):
        raise UserError(f"--max-acc-drop {text}: an absolute drop is a non-negative number of metric points, e.g. 0.01abs")


def _ids(cores: list[int]) -> str:
    if cores and cores == list(range(cores[0], cores[-1] + 1)) and len(cores) > 2:
        return f"CPU ids {cores[0]}-{cores[-1]}"
    return "CPU ids " + ",".join(map(str, cores))


def check_data_arrays(x: dict[str, np.ndarray], y, source: str) -> None:
    """Eval data must be numbers (or booleans), one label per sample."""
    counts = set()
    for name, arr in x.items():
        if arr.dtype.kind not in "biuf":
            raise UserError(f"data {source}: '{name}' has dtype {arr.dtype} ({_kind(arr.dtype)}); give numeric arrays "
                            "(float32, int64, uint8, ...)")
        if arr.ndim == 0:
            raise UserError(f"data {source}: '{name}' is a scalar; give one row per sample (N x per-sample shape)")
        counts.add(len(arr))
    if len(counts) > 1:
        raise UserError(f"data {source}: the input arrays hold different numbers of samples ({sorted(counts)})")
    if y is None:
        return
    if y.dtype.kind not in "biuf":
        raise UserError(f"data {source}: labels 'y' have dtype {y.dtype} ({_kind(y.dtype)}); give integer class ids")
    n = counts.pop() if counts else 0
    if y.ndim == 0 or len(y) != n:
        got = "a scalar" if y.ndim == 0 else f"{len(y)} labels"
        raise UserError(f"data {source}: {got} for {n} samples; give one label per sample in 'y'")


def _kind(dtype: np.dtype) -> str:
    return {"U": "text", "S": "bytes", "O": "Python objects", "M": "dates", "m": "time deltas", "c": "complex",
            "V": "raw records"}.get(dtype.kind, dtype.kind)
