"""`python -m edgepick.worker.child PARENT_PID MODULE ARGS...`: run MODULE as __main__, tied to the parent's life.
`python -m edgepick.worker.child PARENT_PID --exec COMMAND ARGS...`: the same tie, then exec COMMAND (a converter's
own tool started by a worker: onnx2tf, pnnx, a venv's python; core/envs.tied builds the line).

Workers run in their own session (so a terminal's Ctrl-C reaches only the parent, which stops them in order). That
also means nothing would stop them if the parent were killed with SIGKILL: they would keep measuring and overlap a
resumed run. PR_SET_PDEATHSIG asks the kernel to SIGKILL this process when its parent dies; it survives exec, so
it is set here, first thing, before the worker's own imports.

A worker's answer is on disk when its module returns, and the parent waits for its exit before the next worker may
measure: the interpreter's teardown (the finalizers of every module it imported) would sit on that path, 1.2-1.6 s
for TensorFlow or ExecuTorch and 0.3-0.9 s for torch here (benchmarks/README.md section 12). So the worker ends as a
normal exit does, less that teardown: its threads joined, its atexit handlers run (temporary folders are removed),
its output flushed, then os._exit.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import runpy
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1


def tie_to_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the launcher's own kill on exit/interrupt still applies
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect: nobody is waiting for us
        os._exit(1)


def main(argv: list[str]) -> None:
    tie_to_parent(int(argv[0]))
    if argv[1] == "--exec":  # the tie survives exec: the tool's own process dies with whoever started it
        os.execvp(argv[2], argv[2:])
    sys.argv = [argv[1], *argv[2:]]
    try:
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code
    leave(code)


def leave(code: object) -> None:
    """Exit with `code` as sys.exit would, without the interpreter's teardown (see above)."""
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # sys.exit("text"): the text, and status 1
        code = 1
    shutdown = getattr(threading, "_shutdown", None)  # what interpreter exit does first: joins non-daemon threads
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main(sys.argv[1:])
