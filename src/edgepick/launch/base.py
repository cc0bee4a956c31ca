"""The launcher interface: how one measurement worker is started, wherever it runs.

A launcher has one method, `launch(job, out_dir, caps) -> result dict`: it runs the worker
(`python -m edgepick.worker.measure job.json`) for `job` in isolation, under `caps` (hard timeout, memory cap), and
returns the worker's result with the failures it could not report classified from the outside. `out_dir` on this
machine then holds `result.json`, `outputs.npz` (the eval outputs the equivalence check reads) and `worker.log`.

Two implementations:
- `LocalLauncher` (the default): a spawned process on this machine (launch/subprocess.py).
- `RayDeviceLauncher` (launch/ray_device.py): the same worker code on a device of a Ray cluster, `--on NAME`.

Which launcher the measurement code (rigor/run.py, repeats.py, coldstart.py) uses is the current one of the
calling context (`current()`, set with `using(launcher)`), so the code that decides *what* to measure never needs
to know *where*; the fleet scheduler (sweep/fleet.py) runs each device's candidates in a context using its launcher.
A context variable rather than an argument threaded through every call: each scheduler thread has its own context.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Caps:
    """The limits every launcher enforces on the worker it starts."""

    timeout_s: float = 300.0
    memory_limit: int | None = None  # bytes
    memory_mechanism: str = "auto"

    @classmethod
    def of(cls, request) -> Caps:
        return cls(request.time.timeout_s, request.target.memory_limit, request.target.memory_mechanism)

    def to_dict(self) -> dict:
        return asdict(self)


class Launcher(Protocol):
    # None for this machine; {"name": ..., "fingerprint": {...}} for a device of the fleet (copied into each row)
    device: dict | None

    def launch(self, job: dict, out_dir: Path, caps: Caps) -> dict: ...


class LocalLauncher:
    """A worker process on this machine: affinity, timeout and memory cap as launch/subprocess.py applies them."""

    device = None

    def launch(self, job: dict, out_dir: Path, caps: Caps) -> dict:
        from edgepick.launch.subprocess import run_worker

        return run_worker(job, out_dir, caps.timeout_s, caps.memory_limit, caps.memory_mechanism)


LOCAL = LocalLauncher()
_current: contextvars.ContextVar[Launcher] = contextvars.ContextVar("edgepick_launcher", default=LOCAL)


def current() -> Launcher:
    return _current.get()


@contextlib.contextmanager
def using(launcher: Launcher) -> Iterator[Launcher]:
    token = _current.set(launcher)
    try:
        yield launcher
    finally:
        _current.reset(token)
