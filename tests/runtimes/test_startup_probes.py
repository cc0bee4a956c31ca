"""Issue 23: the runtimes' import probes run in the background while the model loads, and are made once.

Real interpreters throughout: each probed module is a small file under tmp_path (on PYTHONPATH) that appends a line
to a count file when it is imported, so the lines count the interpreters that probed it.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from edgepick.plan import planner
from edgepick.runtimes import site_overlay as overlay
from edgepick.runtimes.tvm import OVERLAY_REQUIREMENTS, Tvm


@pytest.fixture(autouse=True)
def fresh_probes(home):
    overlay.probe_import.cache_clear()
    yield
    overlay.probe_import.cache_clear()  # a probe answered from a test's PYTHONPATH or overlay stays in this test


def _module(tmp_path, monkeypatch, name: str, body: str = "") -> os.PathLike:
    """A module `name` that counts its imports in tmp_path/<name>.count, then runs `body`."""
    count = tmp_path / f"{name}.count"
    (tmp_path / f"{name}.py").write_text(f"with open({str(count)!r}, 'a') as f:\n    f.write('x\\n')\n{body}")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p))
    return count


def _imports(count) -> int:
    return len(count.read_text().splitlines()) if count.exists() else 0


def test_callers_at_once_share_one_probe(tmp_path, monkeypatch):
    count = _module(tmp_path, monkeypatch, "slow_ok_mod", "import time\ntime.sleep(1.0)\n")
    answers, barrier = [], threading.Barrier(4)

    def ask():
        barrier.wait()
        answers.append(overlay.probe_import("slow_ok_mod", "none"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [None] * 4
    assert _imports(count) == 1
    assert overlay.probe_import("slow_ok_mod", "none") is None  # kept: no further interpreter
    assert _imports(count) == 1


def test_a_broken_import_gives_its_last_error_line_once(tmp_path, monkeypatch):
    count = _module(tmp_path, monkeypatch, "broken_mod", "raise ImportError('its FFI needs typing_extensions>=4.13')\n")
    first = overlay.probe_import("broken_mod", "none")
    assert first == "ImportError: its FFI needs typing_extensions>=4.13"
    assert overlay.probe_import("broken_mod", "none") == first and _imports(count) == 1
    assert overlay.probe_import("no_such_module_here", "none") == "ModuleNotFoundError: No module named 'no_such_module_here'"


def test_cache_clear_probes_again(tmp_path, monkeypatch):
    count = _module(tmp_path, monkeypatch, "cleared_mod")
    assert overlay.probe_import("cleared_mod", "none") is None
    overlay.probe_import.cache_clear()  # what site_overlay.create() does after installing an overlay
    assert overlay.probe_import("cleared_mod", "none") is None
    assert _imports(count) == 2


def test_a_hung_import_times_out(tmp_path, monkeypatch):
    assert overlay.PROBE_TIMEOUT_S == 120
    _module(tmp_path, monkeypatch, "hung_mod", "import time\ntime.sleep(60)\n")
    monkeypatch.setattr(overlay, "PROBE_TIMEOUT_S", 1)
    started = time.monotonic()
    assert overlay.probe_import("hung_mod", "none") == "`import hung_mod` took over 1 s"
    assert time.monotonic() - started < 20


def test_a_probe_that_raised_is_not_kept_and_its_waiter_probes_itself(tmp_path, monkeypatch):
    count = _module(tmp_path, monkeypatch, "retried_mod")
    real, entered, release = overlay._probe, threading.Event(), threading.Event()

    def fails_first(module, runtime):  # the first probe cannot start its interpreter (e.g. EAGAIN)
        entered.set()
        release.wait(10)
        raise OSError("cannot fork")

    monkeypatch.setattr(overlay, "_probe", fails_first)
    raised, waiter_answer = [], []
    owner = threading.Thread(target=lambda: raised.append(_raises(lambda: overlay.probe_import("retried_mod", "none"))))
    owner.start()
    assert entered.wait(10)
    waiter = threading.Thread(target=lambda: waiter_answer.append(overlay.probe_import("retried_mod", "none")))
    waiter.start()
    time.sleep(0.2)  # the waiter is waiting on the owner's probe
    monkeypatch.setattr(overlay, "_probe", real)
    release.set()
    owner.join(10)
    waiter.join(30)
    assert raised == ["cannot fork"] and waiter_answer == [None] and _imports(count) == 1


def _raises(call) -> str | None:
    try:
        call()
    except OSError as e:
        return str(e)
    return None


def test_the_probe_dies_with_edgepick(tmp_path, monkeypatch):
    """A probe's interpreter is tied to the process that started it (PR_SET_PDEATHSIG), from a background thread
    too: kill -9 of edgepick does not leave `import x` running for up to its timeout."""
    pid_file = tmp_path / "probe.pid"
    _module(tmp_path, monkeypatch, "pid_mod", f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
            "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", "from edgepick.plan.planner import _in_background\n"
                               "from edgepick.runtimes.site_overlay import probe_import\n"
                               "_in_background(lambda: probe_import('pid_mod', 'none'), 'probe').join()\n"])
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert _alive(child)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has died; only its entry is left
    except FileNotFoundError:
        return False


def test_background_lookups_run_at_a_lower_priority():
    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread nice values are Linux's")
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    seen = []
    planner._in_background(lambda: seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id())), "t").join()
    assert seen == [min(19, mine + planner.BACKGROUND_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine  # the main thread keeps its own


def test_prefetch_skips_unknown_names_and_a_look_up_that_raises(monkeypatch):
    ahead = planner.prefetch(["onnxruntime", "no-such-runtime"])
    ahead.wait()
    assert ahead.probes == []  # ONNX Runtime's availability is a find_spec: nothing to start early
    boom = planner._in_background(lambda: 1 / 0, "raises")  # swallowed there; the real caller gets it later
    boom.join()
    assert not boom.is_alive()


tvm_here = pytest.mark.skipif(importlib.util.find_spec("tvm") is None, reason="apache-tvm is not installed")


@tvm_here
def test_a_broken_tvm_gives_the_same_blocker_row_from_one_probe(home, tiny_onnx, fast, monkeypatch):
    """`import tvm` broken (an overlay whose tvm fails, as a too-old typing_extensions does): the row says what it
    always said, although execute() starts the probe in the background and plan() asks again."""
    import edgepick
    from edgepick.core import errors

    count = home / "tvm-imports.count"
    overlay_tvm = overlay.overlay_dir("tvm")
    overlay_tvm.mkdir(parents=True)
    (overlay_tvm / "tvm.py").write_text(f"with open({str(count)!r}, 'a') as f:\n    f.write('x\\n')\n"
                                        "raise ImportError('cannot import name TypeIs from typing_extensions')\n")
    runs = []
    real_run = subprocess.run

    def counting_run(args, *a, **kw):
        if args[:2] == [sys.executable, "-c"] and args[2].endswith("import tvm"):
            runs.append(args)
        return real_run(args, *a, **kw)

    monkeypatch.setattr(overlay.subprocess, "run", counting_run)
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime", "tvm"], threads=[1], batches=[1], timing=fast)
    (row,) = [r for r in run.rows if r["runtime"] == "tvm"]
    assert row["reason_class"] == errors.NOT_INSTALLED
    assert row["reason"] == ("apache-tvm is installed but `import tvm` fails here (ImportError: cannot import name "
                             f"TypeIs from typing_extensions); its FFI needs {', '.join(OVERLAY_REQUIREMENTS)} which "
                             "this environment pins lower: run `edgepick doctor --fix` to give TVM a private overlay")
    assert Tvm.unavailable_reason() == row["reason"]
    assert len(runs) == 1 and _imports(count) == 1
    assert all(r["status"] == "ok" for r in run.rows if r["runtime"] == "onnxruntime")
