"""Issue 11, isolation: the user's model, data and converters never run uncapped in the parent process.

The reference outputs, the eval inputs and every conversion run in workers under the candidates' timeout and
memory cap; a failure there is one line (the run cannot continue, and it is not left 'running') or a row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from tests.helpers import FAST_ARGS, cli, one_line_error


def _onnx_model(path, op_type="Relu", domain="", shape=(1, 4), opset_domain=None):
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node(op_type, ["x"], ["y"], domain=domain)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(opset_domain, 1)] if opset_domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _last_run(home) -> dict:
    from edgepick.store.db import Store

    runs = Store(f"sqlite:///{home / 'results.db'}").list_runs(1)
    return {"status": runs[0].status, "failure": runs[0].request.get("failure")} if runs else {}


def test_unknown_custom_domain_op_stops_the_run_in_one_line_not_left_running(home):
    _onnx_model(home.parent / "custom.onnx", "MysteryOp", "com.example.unknown", opset_domain="com.example.unknown")
    proc = cli("run", "custom.onnx", "--runtimes", "onnxruntime", *FAST_ARGS)
    one_line_error(proc, "the run cannot continue", "reference outputs")
    assert _last_run(home)["status"] == "failed"


def test_huge_declared_input_hits_the_memory_cap_in_a_worker(home):
    _onnx_model(home.parent / "huge.onnx", shape=(1, 3, 100000, 100000))
    # The CLI runs under a small wrapper that reports the peak RSS of its own process tree (the CLI and the workers
    # it waited for): the pytest process's own RUSAGE_CHILDREN would carry earlier tests' children.
    wrapper = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
               "print('peak-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "sys.exit(p.returncode)")
    proc = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "edgepick.cli.main", "run", "huge.onnx",
                           "--runtimes", "onnxruntime", "--memory-limit", "512MB", *FAST_ARGS],
                          capture_output=True, text=True, timeout=300)
    peak_kb = int(proc.stderr.rsplit("peak-kb", 1)[1].split()[0])
    proc.stderr = proc.stderr.rsplit("peak-kb", 1)[0]
    one_line_error(proc, "eval inputs", "1x3x100000x100000")
    # The CLI process itself stayed small: the 112 GiB allocation was tried (and refused) in the capped worker.
    assert peak_kb / 1024 < 1500, peak_kb / 1024


@pytest.mark.parametrize("side", [4000, 8000])  # 16 samples x 192 MB, x 768 MB (the case): > 512 MB
def test_large_declared_input_over_the_cap_is_one_line(home, side):
    _onnx_model(home.parent / "large.onnx", shape=(1, 3, side, side))
    proc = cli("run", "large.onnx", "--runtimes", "onnxruntime", "--memory-limit", "512MB", *FAST_ARGS)
    one_line_error(proc, "eval inputs", "512 MB")


SEGFAULTING_CONVERSION = textwrap.dedent("""
    import os, signal, torch

    class Net(torch.nn.Module):
        example_input_shape = (1, 4)

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            if os.environ.get("EDGEPICK_WORKER_ROLE") == "convert":  # a converter that dies on this model
                os.kill(os.getpid(), signal.SIGSEGV)
            return self.linear(x)

    def build():
        return Net().eval()

""")


def test_segfaulting_converter_is_a_crash_row_and_the_sweep_goes_on(home):
    (home.parent / "segconv.py").write_text(SEGFAULTING_CONVERSION)
    proc = cli("run", "segconv:build", "--runtimes", "torch-eager,onnxruntime", "--threads", "1", "--json", *FAST_ARGS)
    assert proc.returncode == 0, proc.stderr
    rows = {r["runtime"]: r for r in json.loads(proc.stdout)["candidates"]}
    assert rows["torch-eager"]["status"] == "ok"
    assert rows["onnxruntime"]["reason_class"] == "crash"
    assert "torch-to-onnx" in rows["onnxruntime"]["reason"] and "SIGSEGV" in rows["onnxruntime"]["reason"]


def test_reference_that_crashes_stops_the_run_in_one_line(home):
    (home.parent / "refcrash.py").write_text(SEGFAULTING_CONVERSION.replace('== "convert"', '== "reference"'))
    proc = cli("run", "refcrash:build", "--runtimes", "torch-eager", *FAST_ARGS)
    one_line_error(proc, "the run cannot continue", "SIGSEGV")
    assert _last_run(home)["status"] == "failed"


def test_reference_over_the_timeout_stops_the_run(home, fast):
    import edgepick
    from edgepick.core.errors import UserError

    (home.parent / "refhang.py").write_text(SEGFAULTING_CONVERSION.replace(
        'os.kill(os.getpid(), signal.SIGSEGV)', '__import__("time").sleep(3600)').replace('== "convert"', '== "reference"'))
    with pytest.raises(UserError, match="the run cannot continue.*timeout.*raise --timeout"):
        edgepick.pick("refhang:build", runtimes=["torch-eager"], timing=fast, step_timeout_s=30)
    assert _last_run(home)["status"] == "failed"


def test_steps_get_the_users_limits_and_a_stated_floor_for_a_device_cap():
    from edgepick.launch.isolated import DEVICE_STEP_MEMORY_FLOOR, step_limits
    from edgepick.sweep.scheduler import Request

    explicit = Request(model="m", memory_limit=512 * 10**6, timeout_s=5)
    assert step_limits(explicit) == (5, 512 * 10**6)  # --timeout and --memory-limit exactly: never silently raised
    own = Request(model="m", memory_limit=512 * 10**6, timeout_s=5, step_timeout_s=900, step_memory_limit=3 * 10**9)
    assert step_limits(own) == (900, 3 * 10**9)  # --step-timeout / --step-memory-limit
    device = Request(model="m", memory_limit=64 * 2**20, device={"memory_cap_bytes": 64 * 2**20}, timeout_s=600)
    assert step_limits(device) == (600, DEVICE_STEP_MEMORY_FLOOR)  # a device's RAM is the target's, not the host's
    device.target.step_memory_limit = 256 * 2**20
    assert step_limits(device) == (600, 256 * 2**20)  # ...unless the user says otherwise


@pytest.mark.parametrize("args,needle", [(("--step-timeout", "0"), "--step-timeout"),
                                         (("--step-memory-limit", "0MB"), "--step-memory-limit")])
def test_bad_step_limits_are_one_line(home, args, needle):
    one_line_error(cli("run", "digits-cnn", *args), needle)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="Linux only")
def test_workers_run_under_the_parent_death_signal(home):
    """worker/child.py sets PR_SET_PDEATHSIG before the worker's code runs (read back from /proc)."""
    import subprocess
    import sys

    probe = "import ctypes, sys; v = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(v)); print(v.value)"
    (home.parent / "pdeath_probe.py").write_text(probe)
    out = subprocess.run([sys.executable, "-m", "edgepick.worker.child", str(os.getpid()), "pdeath_probe"],
                         capture_output=True, text=True, cwd=home.parent, env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                             [str(home.parent), os.environ.get("PYTHONPATH", "")])), timeout=60)
    assert out.stdout.strip() == "9", out.stderr  # SIGKILL


EXITING_WORKER = textwrap.dedent("""
    import atexit, pathlib, sys, tempfile, threading, time

    out = pathlib.Path(sys.argv[1])
    keep = tempfile.TemporaryDirectory(dir=out)  # removed by its finalizer, an atexit handler

    def late():
        time.sleep(0.3)
        (out / "thread-done").write_text("1")

    threading.Thread(target=late).start()  # not a daemon: a normal exit waits for it
    atexit.register(lambda: (out / "atexit-ran").write_text(keep.name))
    sys.stdout.write("unflushed")  # no newline, and stdout is a pipe: still in Python's buffer at exit
    sys.exit(int(sys.argv[2]))
""")


@pytest.mark.parametrize("code", [0, 3])
def test_a_worker_ends_as_a_normal_exit_does_without_the_teardown(home, code):
    """worker/child.py skips the interpreter's teardown, and nothing else of an exit: the status, the buffered
    output, the non-daemon threads, the atexit handlers and the temporary folders they remove."""
    (home.parent / "exiting_worker.py").write_text(EXITING_WORKER)
    out_dir = home.parent / f"exit-{code}"
    out_dir.mkdir()
    done = subprocess.run([sys.executable, "-m", "edgepick.worker.child", str(os.getpid()), "exiting_worker",
                           str(out_dir), str(code)], capture_output=True, text=True, cwd=home.parent, timeout=60,
                          env=dict({k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
                                   PYTHONPATH=os.pathsep.join([str(home.parent), os.environ.get("PYTHONPATH", "")])))
    assert done.returncode == code, done.stderr
    assert done.stdout == "unflushed"
    assert (out_dir / "thread-done").exists()
    temp = (out_dir / "atexit-ran").read_text()
    assert not os.path.exists(temp)  # the TemporaryDirectory's finalizer ran


HOSTILE_FACTORIES = textwrap.dedent("""
    import os, signal, time

    import numpy as np
    import torch

    def hog():  # 64 GiB of real pages: far beyond any cap
        blocks = []
        while True:
            blocks.append(np.ones(2**28, np.uint8))

    def hang():
        time.sleep(3600)

    def segfault():
        os.kill(os.getpid(), signal.SIGSEGV)

    def unseeded():  # other weights on every call: the instance is saved in the worker, before --data is read
        return torch.nn.Linear(4, 3).eval()
""")


def _parent_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("factory,args,needles", [
    ("hog", ("--memory-limit", "400MB"), ("loading the model hostile:hog", "does not fit in 400 MB")),
    ("hang", ("--timeout", "20"), ("loading the model hostile:hang", "20 s timeout")),
    ("segfault", (), ("loading the model hostile:segfault", "SIGSEGV")),
])
def test_factory_runs_in_a_capped_worker(home, factory, args, needles):
    """The factory is imported and called in a worker under the memory cap and timeout: one line, exit 2."""
    (home.parent / "hostile.py").write_text(HOSTILE_FACTORIES)
    proc = cli("run", f"hostile:{factory}", "--runtimes", "torch-eager", *args, *FAST_ARGS)
    one_line_error(proc, *needles)
    assert not (home / "results.db").exists() or _last_run(home) == {}  # nothing started: no run left 'running'


def test_factory_over_the_cap_in_process_leaves_the_api_caller_alive(home, fast):
    """Through the Python API too: the caller's process does not grow; the cap's verdict is a UserError."""
    import edgepick
    from edgepick.core.errors import UserError

    (home.parent / "hostile.py").write_text(HOSTILE_FACTORIES)
    before = _parent_rss_mb()
    with pytest.raises(UserError, match="does not fit in 400 MB"):
        edgepick.pick("hostile:hog", runtimes=["torch-eager"], timing=fast, memory_limit=400 * 10**6)
    assert _parent_rss_mb() - before < 300


def test_unseeded_factory_is_saved_once_in_the_worker_and_measured(home, fast):
    import edgepick

    (home.parent / "hostile.py").write_text(HOSTILE_FACTORIES)
    run = edgepick.pick("hostile:unseeded", runtimes=["torch-eager"], timing=fast, input_shape="1x4", threads=[1],
                        precisions="fp32")
    assert [r["status"] for r in run.rows] == ["ok"]
    assert run.rows[0]["artifact"]["format"] == "torch-exported"
