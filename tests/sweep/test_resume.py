"""A sweep killed with SIGKILL half-way resumes where it stopped, and loses nothing it had measured."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from edgepick.store.db import Store


def test_kill_minus_nine_then_resume(home, tiny_onnx):
    args = [sys.executable, "-m", "edgepick.cli.main", "run", str(tiny_onnx), "--runtimes", "onnxruntime,openvino",
            "--threads", "1,2", "--batch", "1,2", "--min-duration", "0.4", "--min-samples", "5", "--warmup", "2",
            "--precision", "fp32"]  # 8 rows on every CPU (BF16/FP16 CPUs would add OpenVINO rows by default)
    store = Store(f"sqlite:///{home / 'results.db'}")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    before = []
    while time.monotonic() < deadline:
        runs = store.list_runs() if (home / "results.db").exists() else []
        if runs and len(runs[0].candidates) >= 2:
            before = runs[0].candidates
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert before, "the sweep never stored two rows"
    run_id = store.list_runs()[0].id
    stored = {c.key: c.measured_at for c in store.get_run(run_id).candidates}
    assert 2 <= len(stored) < 8, "kill landed too late to test a resume"

    done = subprocess.run(args + ["--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    final = store.get_run(run_id)
    assert final.status == "done" and len(final.candidates) == 8
    assert len(store.list_runs()) == 1
    for c in final.candidates:
        if c.key in stored:
            assert c.measured_at == stored[c.key], f"{c.key} was measured again"
