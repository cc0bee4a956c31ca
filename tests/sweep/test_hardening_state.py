"""Issue 11, state: a damaged or read-only store, bad --db URLs, Ctrl-C and kill -9 mid-sweep, incomplete runs,
and two identical sweeps in one home at once."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from tests.helpers import FAST_ARGS, cli, one_line_error


def _default_sigint() -> None:
    """In the CLI's process before exec: SIGINT at its default and unblocked, as a terminal gives it. A child inherits
    both from pytest, where an earlier test's library (a pool's resource tracker) can leave SIGINT blocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _cli_popen(*args: str, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "edgepick.cli.main", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd, preexec_fn=_default_sigint)


def _measure_worker_of(parent_pid: int, timeout_s: float = 180) -> psutil.Process:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in psutil.Process(parent_pid).children(recursive=True):
            try:
                if "edgepick.worker.measure" in " ".join(child.cmdline()):
                    return child
            except psutil.Error:
                continue
        time.sleep(0.2)
    raise AssertionError("no measurement worker started")


def _gone(proc: psutil.Process, timeout_s: float = 15) -> bool:
    try:
        proc.wait(timeout=timeout_s)
    except psutil.TimeoutExpired:
        return False
    except psutil.NoSuchProcess:
        pass
    return True


@pytest.fixture
def hanging(home):
    shutil.copy(Path(__file__).parents[1] / "misbehaving.py", home.parent / "misbehaving.py")
    # FP32 only: on a CPU with native BF16 a torch-eager BF16 row would be planned too, and the count would differ by ISA
    return ("run", "misbehaving:hang", "--runtimes", "torch-eager", "--precision", "fp32", "--threads", "1", "--timeout", "600",
            *FAST_ARGS)


def test_ctrl_c_stops_the_worker_says_what_was_kept_and_the_run_shows_incomplete(home, hanging):
    proc = _cli_popen(*hanging, cwd=home.parent)
    worker = _measure_worker_of(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "kept 0 of 1 rows" in stderr and "run the same command again to resume" in stderr, stderr
    assert "Traceback" not in stderr
    assert _gone(worker), "the worker kept running after Ctrl-C"
    run_id = re.search(r"run (\w+) kept", stderr).group(1)
    shown = cli("show", run_id)
    assert shown.returncode == 0 and "INCOMPLETE" in shown.stdout and "1 of 1 rows missing" in shown.stdout
    as_json = json.loads(cli("show", run_id, "--json").stdout)
    assert as_json["incomplete"]["missing"] == 1 and as_json["incomplete"]["status"] == "running"
    assert "incomplete" in cli("list").stdout
    assert "INCOMPLETE" in cli("show", run_id, "--markdown").stdout
    report = cli("report", run_id, "-o", str(home.parent / "r.html"))
    assert report.returncode == 0 and "INCOMPLETE" in report.stderr
    assert "INCOMPLETE" in (home.parent / "r.html").read_text()


def test_kill_9_of_the_parent_does_not_leave_a_worker_measuring(home, hanging):
    proc = _cli_popen(*hanging, cwd=home.parent)
    worker = _measure_worker_of(proc.pid)
    proc.kill()
    proc.wait(timeout=30)
    assert _gone(worker), "the worker outlived a SIGKILLed parent"


def test_corrupted_results_db_is_one_line_naming_the_file(home, tiny_onnx):
    home.mkdir(parents=True, exist_ok=True)
    (home / "results.db").write_bytes(b"this is not sqlite" * 100)
    for args in (("list",), ("show", "abc"), ("run", str(tiny_onnx), "--runtimes", "onnxruntime", *FAST_ARGS)):
        one_line_error(cli(*args), str(home / "results.db"), "move it aside")


def test_bad_db_urls(home):
    one_line_error(cli("list", "--db", "notaurl://::"), "bad --db")
    one_line_error(cli("list", "--db", "nosuchdialect://x"), "bad --db")


@pytest.mark.parametrize("url,driver", [("postgresql://user:secret@127.0.0.1/db", "psycopg"),
                                        ("mysql://user@127.0.0.1/db", "MySQLdb")])
def test_db_url_without_its_driver(home, url, driver):
    # Where the driver is installed, a module of that name that fails to import stands in for a missing one
    # (first on PYTHONPATH, so it shadows the real driver in the CLI's process only).
    shadow = home.parent / "no-driver"
    shadow.mkdir(exist_ok=True)
    (shadow / f"{driver}.py").write_text(f"raise ModuleNotFoundError({f'No module named {driver}'!r}, name={driver!r})\n")
    path = os.pathsep.join(p for p in (str(shadow), os.environ.get("PYTHONPATH", "")) if p)
    proc = cli("list", "--db", url, env={"PYTHONPATH": path})
    one_line_error(proc, f"driver '{driver}'", "pip install")
    assert "secret" not in proc.stderr  # the password is not echoed


def _read_only_prefix(folder: Path) -> list[str] | None:
    """A command prefix that runs the CLI with `folder` read-only: a read-only bind mount as root, chmod otherwise."""
    if os.geteuid() != 0:
        for p in [folder, *folder.rglob("*")]:
            p.chmod(p.stat().st_mode & ~0o222)
        return []
    if not shutil.which("unshare"):
        return None
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        return None
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, str(folder)]


def test_read_only_home_list_and_show_work_and_run_says_why(home, tiny_onnx):
    first = cli("run", str(tiny_onnx), "--runtimes", "onnxruntime", "--threads", "1", "--json", *FAST_ARGS)
    assert first.returncode == 0, first.stderr
    run_id = json.loads(first.stdout)["run_id"]
    prefix = _read_only_prefix(home)
    if prefix is None:
        pytest.skip("cannot make a folder read-only here (root without unshare)")
    env = dict(os.environ, EDGEPICK_HOME=str(home))

    def ro(*args):
        return subprocess.run([*prefix, sys.executable, "-m", "edgepick.cli.main", *args], capture_output=True, text=True,
                              env=env, cwd=home.parent, timeout=300)

    listed = ro("list")
    assert listed.returncode == 0 and run_id in listed.stdout, listed.stderr
    shown = ro("show", run_id)
    assert shown.returncode == 0 and "onnxruntime" in shown.stdout, shown.stderr
    one_line_error(ro("run", str(tiny_onnx), "--runtimes", "onnxruntime", "--force", *FAST_ARGS), "writable")


@pytest.mark.slow  # two sweeps with OpenVINO conversions at once (~40 s on 2 loaded cores)
def test_two_identical_sweeps_in_one_home_both_measure_real_rows(home, tiny_onnx):
    args = ("run", str(tiny_onnx), "--runtimes", "openvino,onnxruntime", "--threads", "1", "--force", "--json",
            *FAST_ARGS)
    procs = [_cli_popen(*args, cwd=home.parent) for _ in range(2)]
    outs = [p.communicate(timeout=900) for p in procs]
    for proc, (stdout, stderr) in zip(procs, outs):
        assert proc.returncode == 0, stderr
        for row in json.loads(stdout)["candidates"]:
            # real: measured (a latency), not a crash of a worker whose files the other sweep pulled away
            assert row["reason_class"] not in ("crash", "load-error", "conversion-error"), row
            assert row["latency_ms"] and row["latency_ms"]["p50"] > 0, row


HOLDER = """
import json, sys, time
from pathlib import Path
from filelock import FileLock

folder, record_name, record = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
with FileLock(str(folder) + ".lock"):
    folder.mkdir(parents=True)
    (folder / "in-progress.bin").write_bytes(b"being written")  # another sweep's worker has this open
    print("holding", flush=True)
    time.sleep(3)
    (folder / record_name).write_text(json.dumps(record))
"""


def _hold(folder: Path, record_name: str, record: dict) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder), record_name, json.dumps(record)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_conversion_step_being_written_by_another_sweep_is_waited_for_not_deleted(tmp_path):
    from edgepick.convert.chain import convert_along
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.signature import Signature

    step = tmp_path / "onnx-to-openvino"
    theirs = {"format": "openvino-ir", "path": str(step / "in-progress.bin"), "meta": {}}
    holder = _hold(step, "artifact.json", {"artifact": theirs, "seconds": 1.5})
    artifact, steps = convert_along(["onnx-to-openvino"], Artifact("onnx", "m.onnx"), Signature([]), tmp_path)
    holder.wait(timeout=30)
    assert artifact.to_dict() == theirs and steps[0]["cached"] is True
    assert (step / "in-progress.bin").read_bytes() == b"being written"  # not deleted as "left over from a killed sweep"


def test_a_compression_being_written_by_another_sweep_is_waited_for_not_deleted(tmp_path, tiny_onnx):
    pytest.importorskip("onnxruntime")
    import numpy as np

    from edgepick.compress import plan
    from edgepick.compress.calib import calibration_set
    from edgepick.compress.metrics import parse_drop, resolve_metric
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.data import EvalData
    from edgepick.inputs.model import ModelSpec
    from edgepick.inputs.signature import Signature, TensorSpec

    sig = Signature([TensorSpec("input", [None, 1, 8, 8], "float32", True)])
    x = {"input": np.zeros((4, 1, 8, 8), np.float32)}
    spec = ModelSpec("tiny", Artifact("onnx", str(tiny_onnx)), sig, "h")
    cs = plan.CompressSetup(resolve_metric("cosine", False), parse_drop("1%"), calibration_set(None, x, "t", sig), 1.0,
                            None, spec, EvalData(x, None, "t"), [np.zeros((4, 10), np.float32)], tmp_path, 1)
    folder = plan._cache_dir(tmp_path, "int8-dynamic", "int8-dynamic", {}, cs.calibration, cs.tolerance, "cosine")
    theirs = {"format": "onnx", "path": str(folder / "in-progress.bin"), "meta": {}}
    holder = _hold(folder, "compressed.json", {"artifact": theirs, "seconds": 2.0, "record": {"label": "int8-dynamic"}})
    artifact, steps, record = plan.produce("int8-dynamic", "int8-dynamic", {}, cs)
    holder.wait(timeout=30)
    assert artifact.to_dict() == theirs and steps[-1]["cached"] is True and record == {"label": "int8-dynamic"}
    assert (folder / "in-progress.bin").read_bytes() == b"being written"


def test_sweeps_starting_together_on_a_new_store_both_open_it(tmp_path):
    # Found by the two-sweep test once loading moved to a worker: both processes reached the empty results.db in
    # the same instant and the second CREATE TABLE failed ("table runs already exists").
    opener = ("import sys, time; from edgepick.store.db import Store; start = float(sys.argv[2]); "
              "time.sleep(max(0, start - time.time())); Store('sqlite:///' + sys.argv[1]); print('opened')")
    start = str(time.time() + 8)  # after every interpreter has imported edgepick
    procs = [subprocess.Popen([sys.executable, "-c", opener, str(tmp_path / "results.db"), start],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "opened", err
