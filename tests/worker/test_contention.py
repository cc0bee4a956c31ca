"""A probe window shared with another process is read as such, and cannot prune (worker/contention.py).

Real processes on real cores: a call that hashes on two threads (hashlib lets go of the GIL), as a runtime's call
runs on its two pinned cores, and a rival busy loop pinned to one of them. The rival takes a quarter of the two
cores and doubles the call, which waits for its slowest thread; the worker's CPU time over the wall time (the
probe's reading before) stayed at one core or more, so the window counted and pruned.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from edgepick.worker.latency import probe

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                                reason="two cores to pin to (Linux)")


@pytest.fixture
def two_cores():
    """This process on two cores, and a call that keeps both busy for about 5 ms (per hashed buffer)."""
    before = os.sched_getaffinity(0)
    cores = sorted(before)[:2]
    os.sched_setaffinity(0, cores)
    pool = ThreadPoolExecutor(2)
    size = 1 << 20
    while True:
        buf = b"x" * size
        t0 = time.perf_counter()
        hashlib.sha256(buf).digest()
        if (time.perf_counter() - t0) * 1000 >= 5.0:
            break
        size *= 2

    def call(times: int = 1) -> None:
        list(pool.map(lambda b: hashlib.sha256(b * times).digest(), (buf, buf)))

    yield cores, call
    pool.shutdown()
    os.sched_setaffinity(0, before)


def _bar(call) -> dict:
    alone = probe(call, None)["summary"]
    return {"best_p50_ms": alone["p50"], "best_upper_ms": alone["p50_ci95"][1], "margin": 1.3, "best_key": "alone"}


def test_a_rival_on_one_of_the_cores_is_seen_and_its_slower_windows_do_not_prune(two_cores):
    cores, call = two_cores
    bar = _bar(call)
    rival = subprocess.Popen([sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{cores[0]}}})\nwhile 1: pass"])
    try:
        time.sleep(0.3)
        shared = probe(call, bar)
    finally:
        rival.kill()
        rival.wait()
    assert max(w["p50"] for w in shared["windows"]) > 1.3 * bar["best_upper_ms"], shared  # slower in wall time...
    assert max(w["cpu_share"] for w in shared["windows"]) < 0.9, shared["windows"]  # ...and read as shared...
    assert not shared["pruned"]  # ...so not pruned for it


def test_the_same_slowdown_on_quiet_cores_prunes(two_cores):
    # the control: twice the work, nobody else on the cores: the rule prunes (so the test above can fail)
    _, call = two_cores
    for _ in range(3):  # a quiet moment: other work on this machine (another job) is read as such, and then waited out
        found = probe(lambda: call(2), _bar(call))
        if all(w["cpu_share"] == 1.0 for w in found["windows"]):
            break
    else:
        pytest.skip(f"the cores were never quiet for two windows here: {found['windows']}")
    assert found["pruned"], found["windows"]


def test_without_per_cpu_counters_the_workers_own_cpu_time_stands_in(monkeypatch):
    # macOS, Windows: no /proc/stat; a busy single-threaded window reads as the whole core, a sleeping one as none
    from edgepick.worker import contention

    monkeypatch.setattr(contention, "_PROC_STAT", "/nonexistent/stat")
    share = contention.CoreShare([0])
    share.start()
    end = time.perf_counter() + 0.2
    while time.perf_counter() < end:
        pass
    assert share.stop() == 1.0
    share.start()
    time.sleep(0.2)
    assert share.stop() < 0.5
