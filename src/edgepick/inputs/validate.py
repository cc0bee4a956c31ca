"""Checks on settings (sweep/settings.py) and on user data that must stop a run before any work: one line each, exit code 2.

Kept in one place so the CLI and the Python API (edgepick.pick) refuse the same things the same way.
"""

from __future__ import annotations

import os

import numpy as np

from edgepick.core.errors import UserError


def is_zip_archive(path) -> bool:
    """zipfile.is_zipfile, minus its own exceptions: it raises BadZipFile for a ZIP64 record naming several disks
    (found by fuzz/ on a mutated .pt2) where a file that is no archive should simply answer False."""
    import zipfile

    try:
        return zipfile.is_zipfile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def only_known(items: list[str], known, what: str, hint: str) -> list[str]:
    """`items` without repeats, in order, if each is a known name; else one line naming the unknown ones and the known
    ones, then `hint` (where to look or an example)."""
    unknown = [i for i in items if i not in known]
    if unknown:
        raise UserError(f"unknown {what} {', '.join(repr(u) for u in unknown)}; known: {', '.join(known)} {hint}")
    return list(dict.fromkeys(items))


def number_in(value: float, option: str, low: float, high: float, unit: str = "", low_open: bool = False) -> float:
    """`value` if it is a finite number in [low, high] ((low, high] with low_open); else one line. NaN compares
    False with everything, so a plain `value < low` check lets it (and inf, past an upper bound nobody set) through."""
    import math

    ok = isinstance(value, (int, float)) and math.isfinite(value) and (value > low if low_open else value >= low) \
        and value <= high
    if not ok:
        side = f"more than {low:g}" if low_open else f"at least {low:g}"
        raise UserError(f"bad {option} {value!r}: give a number {side} and at most {high:g}{unit}")
    return value


def check_port(port: int, option: str = "--port") -> int:
    if not 0 <= port <= 65535:
        raise UserError(f"bad {option} {port}: a TCP port is 1..65535 (0 picks a free one)")
    return port


def check_background_load(n: int) -> int:
    """Load processes are one per core: more than the usable cores only measures the scheduler's queue."""
    usable = usable_cores()
    if not 0 <= n <= len(usable):
        raise UserError(f"bad --background-load {n}: give 0..{len(usable)} (one load process per core; this machine "
                        f"lets edgepick use {_ids(usable)})")
    return n


def usable_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def check_cores(cores: list[int] | None) -> None:
    usable = usable_cores()
    bad_cores = [c for c in cores or [] if c not in usable]
    if bad_cores:
        raise UserError(f"--cores {','.join(map(str, cores))}: CPU(s) {','.join(map(str, bad_cores))} are not "
                        f"usable here; this machine lets edgepick use {_ids(usable)}")


def check_threads(threads: list[int], cores: list[int] | None) -> None:
    pool = cores or usable_cores()
    too_many = [t for t in threads if t > len(pool)]
    if too_many:
        where = f"--cores gives {len(pool)}" if cores else f"this machine lets edgepick use {len(pool)}"
        raise UserError(f"--threads {max(too_many)} is more than the cores available ({where}: {_ids(pool)}); "
                        f"give at most {len(pool)}")


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
