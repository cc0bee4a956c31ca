"""Issue 22, finding 8: the background load is capped at the usable cores and dies with its parent, like workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from tests.helpers import cli, one_line_error

PARENT = textwrap.dedent("""
    from edgepick.rigor.background import BackgroundLoad
    load = BackgroundLoad(1, [])
    load.start()
    print(" ".join(str(p.pid) for p in load.procs), flush=True)
    import time
    time.sleep(120)
""")


def test_load_processes_die_with_their_parent():
    """kill -9 of the process that started the load: the kernel kills the load too (it used to be orphaned)."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert pids and all(psutil.pid_exists(p) for p in pids)
        assert all(psutil.Process(p).ppid() == parent.pid for p in pids)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for p in left:  # never leave one behind, even when the test fails
        os.kill(p, signal.SIGKILL)
    assert not left, f"load processes outlived their parent: {left}"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_more_load_processes_than_cores_are_refused(home, tiny_onnx):
    usable = len(os.sched_getaffinity(0))
    one_line_error(cli("run", str(tiny_onnx), "--background-load", "999"), "--background-load 999", f"0..{usable}")
    one_line_error(cli("run", str(tiny_onnx), "--background-load", str(usable + 1)), "--background-load")


def test_the_load_is_capped_at_the_usable_cores_from_the_api():
    from edgepick.rigor.background import BackgroundLoad

    assert len(BackgroundLoad(999, []).cores) == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("args, words", [
    (("--fps", "nan"), "--fps nan"),
    (("--fps", "inf"), "--fps inf"),
    (("--sustain", "99999h"), "--sustain '99999h'"),
    (("--deadline", "5h"), "--deadline '5h'"),
])
def test_real_time_values_are_one_line_naming_the_option(home, tiny_onnx, args, words):
    """Finding 9 and 13: --sustain 99999h was accepted; --fps nan was reported as "--timeout nan"."""
    res = cli("run", str(tiny_onnx), *args)
    one_line_error(res, words)
    assert "--timeout" not in res.stderr
