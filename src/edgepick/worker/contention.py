"""How much of its cores a worker had during a timing window, from the cores' own busy time.

The worker's CPU time over the wall time cannot say it: a runtime with two threads on two cores shows 2 s of CPU
per second whether or not another process takes half of those cores (it is then simply slower), and a runtime whose
threads spin while they wait keeps its CPU time under contention. The cores' busy time can: what the cores the worker
is pinned to spent busy in the window, less the worker's own CPU time, is what other processes (and a hypervisor's
steal) took from them. A probe window in which the worker had less than its whole cores, 1 - that / (window x
cores), never counts towards pruning a candidate (worker/latency.probe): a burst of other work never prunes.

The counters are the kernel's per-CPU times in /proc/stat, read directly: workers also run in a runtime's own venv
(MXNet's) and on a device's agent, with no more than numpy at hand. Where there is no /proc/stat (macOS, Windows),
the worker's CPU time over the wall time stands in: right for a single-threaded call, blind to the case above.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

# the kernel counts each CPU's time in ticks of 10 ms (USER_HZ): over a window of 0.3 s on one core a share is read
# to about 7%, so a share above this is read as the whole cores (the race's margin of 1.3 covers the rest)
WHOLE_ABOVE = 0.9
_PROC_STAT = "/proc/stat"


def _pinned_cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this OS: every core
        return list(range(os.cpu_count() or 1))


def _busy_s(cores: list[int]) -> float | None:
    """Seconds the given cores have spent busy since boot, by anyone; None where the kernel does not say."""
    try:
        with open(_PROC_STAT) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    wanted, ticks = {f"cpu{c}" for c in cores}, 0
    for line in lines:
        name, *values = line.split()
        if name in wanted:
            numbers = [int(v) for v in values]  # user nice system idle iowait irq softirq steal guest guest_nice
            ticks += sum(numbers[0:3]) + sum(numbers[5:8])  # idle and I/O wait left out; guest is inside user
    return ticks / os.sysconf("SC_CLK_TCK")


class CoreShare:
    """Around one window: `start()`, run it, `stop()` -> the share of the pinned cores this process had (0-1)."""

    def __init__(self, cores: list[int] | None = None, own_cpu: Callable[[], float] = time.process_time):
        self.cores = cores or _pinned_cores()
        self.own_cpu = own_cpu
        self._at: tuple[float | None, float, float] | None = None

    def start(self) -> None:
        self._at = (_busy_s(self.cores), self.own_cpu(), time.perf_counter())

    def stop(self) -> float:
        busy0, own0, wall0 = self._at
        wall, own = max(1e-9, time.perf_counter() - wall0), self.own_cpu() - own0
        busy = _busy_s(self.cores) if busy0 is not None else None
        if busy is None:  # no per-CPU counters: the worker's own CPU time over the wall time, at most a core
            share = min(1.0, own / wall)
        else:
            share = max(0.0, 1.0 - ((busy - busy0) - own) / (wall * len(self.cores)))
        return 1.0 if share >= WHOLE_ABOVE else round(share, 2)
