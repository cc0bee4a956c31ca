"""Memory caps for a worker process, strongest mechanism first.

- cgroup v2 `memory.max` when this process may create a child cgroup: the kernel enforces it on RSS.
- otherwise an RSS watchdog: the launcher samples the worker's resident memory every few milliseconds and kills
  it past the cap. We prefer this to RLIMIT_AS as the default fallback because RLIMIT_AS caps *virtual* memory,
  and OpenVINO and PyTorch reserve gigabytes of address space they never touch, so a 512 MB RLIMIT_AS kills them
  at import even when they would fit. `rlimit-as` can still be asked for explicitly.
The mechanism used is recorded with every row.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psutil

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_v2_usable() -> bool:
    controllers = CGROUP_ROOT / "cgroup.controllers"
    try:
        return "memory" in controllers.read_text().split() and os.access(CGROUP_ROOT, os.W_OK)
    except OSError:
        return False


def choose(limit_bytes: int | None, requested: str = "auto") -> str | None:
    if not limit_bytes:
        return None
    if requested != "auto":
        return requested
    return "cgroup-v2" if cgroup_v2_usable() else "rss-watchdog"


class CgroupCap:
    def __init__(self, name: str, limit_bytes: int):
        self.path = CGROUP_ROOT / name
        self.path.mkdir(exist_ok=True)
        (self.path / "memory.max").write_text(str(limit_bytes))
        swap = self.path / "memory.swap.max"
        if swap.exists():
            swap.write_text("0")

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def tripped(self) -> bool:
        try:
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
            return int(events.get("oom_kill", 0)) > 0
        except OSError:
            return False

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            pass


class RssWatchdog:
    """Kills the worker (and its children) once their summed RSS passes the cap."""

    def __init__(self, pid: int, limit_bytes: int, interval_s: float = 0.005):
        self.pid, self.limit, self.interval = pid, limit_bytes, interval_s
        self.peak_bytes = 0
        self._tripped = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        try:
            proc = psutil.Process(self.pid)
            while not self._stop.is_set():
                procs = [proc] + proc.children(recursive=True)
                rss = sum(p.memory_info().rss for p in procs if p.is_running())
                self.peak_bytes = max(self.peak_bytes, rss)
                if rss > self.limit:
                    self._tripped.set()
                    for p in procs:
                        p.kill()
                    return
                self._stop.wait(self.interval)
        except psutil.Error:  # the worker ended
            return

    def tripped(self) -> bool:
        return self._tripped.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
