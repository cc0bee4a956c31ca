"""A converter's own tool (onnx2tf, pnnx, a venv's python) dies with the worker that started it (core/envs.tied).

Seen in a stopped benchmark: the sweep's conversion worker died with its parent (PR_SET_PDEATHSIG) but the onnx2tf
process it had started ran on as an orphan. Planted here: a middle process (standing for a conversion worker) starts
a sleeping tool, tied and untied, and is SIGKILLed; the tied tool is gone within seconds, the untied one is not (so
the test can tell the two apart), and is then killed by the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from edgepick.core.envs import tied

MIDDLE = """
import subprocess, sys
from edgepick.core.envs import tied
cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
proc = subprocess.Popen(tied(cmd) if sys.argv[1] == "tied" else cmd)
print(proc.pid, flush=True)
proc.wait()
"""


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be read


def _tool_left_by_a_killed_worker(how: str) -> tuple[int, bool]:
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, how], stdout=subprocess.PIPE, text=True)
    tool = int(middle.stdout.readline())
    time.sleep(1.0)  # the tie is set and the tool exec'd
    middle.send_signal(signal.SIGKILL)
    middle.wait()
    deadline = time.monotonic() + 5
    while _alive(tool) and time.monotonic() < deadline:
        time.sleep(0.05)
    return tool, _alive(tool)


def test_a_tied_tool_dies_with_the_worker_that_started_it():
    tool, alive = _tool_left_by_a_killed_worker("tied")
    assert not alive, f"pid {tool} outlived the worker that started it"
    tool, alive = _tool_left_by_a_killed_worker("untied")
    try:
        assert alive  # without the tie the orphan runs on: what the tie is for
    finally:
        if alive:
            os.kill(tool, signal.SIGKILL)


def test_tied_keeps_the_command_and_names_this_process():
    cmd = ["/usr/bin/true", "--flag"]
    line = tied(cmd)
    assert line[-2:] == cmd and line[line.index("--exec") - 1] == str(os.getpid())
