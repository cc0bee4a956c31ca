"""The head of a fleet sweep (the `edgepick run --on` process) killed with SIGKILL mid-sweep: re-running the same
command resumes the same run, measures only what is missing, and loses nothing already measured. Real Ray, no mocks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the fleet needs Ray: pip install 'edgepick[cluster]'")
pytest.importorskip("onnxruntime")

from tests.fleet_cluster import Cluster  # noqa: E402

from edgepick.store.db import Store  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
TOTAL = 4  # onnxruntime fp32, one thread, batches 1, 2, 4, 8, on device `solo`


@pytest.mark.slow
def test_head_killed_mid_sweep_then_rerun_resumes(tmp_path, tiny_onnx):
    pythonpath = os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)
    c = Cluster(tmp_path, {"PYTHONPATH": pythonpath})
    home = tmp_path / "home"
    env = dict(c.env, EDGEPICK_HOME=str(home))
    args = [sys.executable, "-m", "edgepick.cli.main", "run", str(tiny_onnx), "--runtimes", "onnxruntime", "--threads", "1",
            "--batch", "1,2,4,8", "--precision", "fp32", "--on", "solo", "--min-duration", "1.0", "--min-samples", "5",
            "--warmup", "2", "--no-noise-retry"]
    try:
        c.start_head(device="solo")
        c.wait_alive(["solo"])
        store = Store(f"sqlite:///{home / 'results.db'}")
        head = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        _wait_for_rows(store, home, head, at_least=1)
        os.killpg(head.pid, signal.SIGKILL)  # the head: no chance to clean up or finish the run
        head.wait()
        run_id = store.list_runs()[0].id
        stored = {k.key: k.measured_at for k in store.get_run(run_id).candidates}
        assert 1 <= len(stored) < TOTAL, f"the kill landed too late to test a resume ({len(stored)} rows)"
        assert store.get_run(run_id).status == "running"

        again = subprocess.run(args + ["--json"], capture_output=True, text=True, env=env, timeout=400)
        assert again.returncode == 0, again.stderr[-3000:]
        final = store.get_run(run_id)
        assert final.status == "done" and len(store.list_runs()) == 1  # the same run, resumed
        assert len(final.candidates) == TOTAL and {r.status for r in final.candidates} == {"ok"}
        for row in final.candidates:
            assert row.key.endswith("@solo")
            if row.key in stored:
                assert row.measured_at == stored[row.key], f"{row.key} was measured again"
    finally:
        c.stop()


def _wait_for_rows(store: Store, home: Path, head: subprocess.Popen, at_least: int) -> list:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = store.list_runs() if (home / "results.db").exists() else []
        if runs and len(runs[0].candidates) >= at_least:
            return runs[0].candidates
        assert head.poll() is None, "the sweep ended before it stored a row"
        time.sleep(0.05)
    pytest.fail("the fleet sweep stored no row in 240 s")
