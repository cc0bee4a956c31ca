"""How much of its cores a worker had during a timing window, from the cores' own busy time.

The worker's CPU time over the wall time cannot say it: a runtime with two threads on two cores shows 2 s of CPU
per second whether or not another process takes half of those cores (it is then simply slower), and a runtime whose
threads spin while they wait keeps its CPU time under contention. The cores' busy time can: what the cores the worker
is pinned to spent busy in the window, less the worker's own CPU time, is what other processes (and a hypervisor's
steal) took from them. A probe window in which the worker had less than its whole cores, 1 - that / (window x
cores), never counts towards pruning a candidate (worker/latency.probe): a burst of other work never prunes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import psutil

# the kernel counts each CPU's time in ticks of 10 ms (USER_HZ): over a window of 0.3 s on one core a share is read
# to about 7%, so a share above this is read as the whole cores (the race's margin of 1.3 covers the rest)
WHOLE_ABOVE = 0.9


def _pinned_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this OS: every core
        return list(range(psutil.cpu_count() or 1))


def _busy_s(cores: list[int]) -> float:
    """Seconds the given cores have spent busy since boot, by anyone (idle and I/O wait left out; steal counted)."""
    per_cpu = psutil.cpu_times(percpu=True)
    fields = ("user", "nice", "system", "irq", "softirq", "steal")  # guest time is inside user on Linux
    return sum(getattr(per_cpu[c], f, 0.0) for c in cores if c < len(per_cpu) for f in fields)


class CoreShare:
    """Around one window: `start()`, run it, `stop()` -> the share of the pinned cores this process had (0-1)."""

    def __init__(self, cores: list[int] | None = None, own_cpu: Callable[[], float] = time.process_time):
        self.cores = cores or _pinned_cores()
        self.own_cpu = own_cpu
        self._at: tuple[float, float, float] | None = None

    def start(self) -> None:
        self._at = (_busy_s(self.cores), self.own_cpu(), time.perf_counter())

    def stop(self) -> float:
        busy0, own0, wall0 = self._at
        wall = max(1e-9, time.perf_counter() - wall0)
        others = (_busy_s(self.cores) - busy0) - (self.own_cpu() - own0)
        share = max(0.0, 1.0 - others / (wall * len(self.cores)))
        return 1.0 if share >= WHOLE_ABOVE else round(share, 2)
