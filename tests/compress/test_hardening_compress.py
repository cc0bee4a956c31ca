"""Issue 11, isolation of compression: every compression step that loads, runs or transforms the user's model (and
the user's calibration data, training data and --metric callable) runs in a capped worker. A crash, an OOM or a hang
there is a row with a classified reason; the parent and the sweep go on."""

from __future__ import annotations

import json
import textwrap

import pytest
from tests.helpers import FAST_ARGS, cli, one_line_error

pytest.importorskip("onnxruntime")

MODEL = textwrap.dedent("""
    import os, signal, time

    import numpy as np
    import torch

    MISBEHAVE = os.environ.get("MISBEHAVE", "")

    class Net(torch.nn.Module):
        example_input_shape = (1, 4)

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.linear = torch.nn.Linear(4, 3)

        def forward(self, x):
            if os.environ.get("EDGEPICK_WORKER_ROLE") == "compress":  # only while being compressed
                if MISBEHAVE == "segfault":
                    os.kill(os.getpid(), signal.SIGSEGV)
                if MISBEHAVE == "hog":  # real pages, far beyond the cap
                    blocks = [np.ones(2**28, np.uint8) for _ in range(64)]
                if MISBEHAVE == "hang":
                    time.sleep(3600)
            return self.linear(x)

    def build():
        return Net().eval()

    def metric_segfaults(outputs, labels, reference):  # fine for the reference's own score, dies on each row's
        if os.environ.get("EDGEPICK_WORKER_ROLE") == "compress-metric":
            os.kill(os.getpid(), signal.SIGSEGV)
        return 1.0

    def calib_raises():
        raise ValueError("calibration shard missing")
""")


def _sweep(home, misbehave: str, *args: str):
    (home.parent / "cnet.py").write_text(MODEL)
    proc = cli("run", "cnet:build", "--runtimes", "torch-eager,onnxruntime", "--threads", "1", "--precision", "fp32",
               "--compress", "int8-dynamic", "--json", *FAST_ARGS, *args, env={"MISBEHAVE": misbehave})
    assert proc.returncode == 0, proc.stderr  # the parent lived and finished the sweep
    assert "Traceback" not in proc.stderr
    return {r["key"]: r for r in json.loads(proc.stdout)["candidates"]}


@pytest.mark.parametrize("misbehave,args,reason_class,needle", [
    ("segfault", (), "crash", "SIGSEGV"),
    pytest.param("hog", ("--memory-limit", "1500MB"), "oom", "does not fit in 1.5 GB", marks=pytest.mark.slow),
    pytest.param("hang", ("--step-timeout", "60"), "timeout", "60 s timeout", marks=pytest.mark.slow),
])
def test_a_compression_step_that_dies_is_a_classified_row(home, misbehave, args, reason_class, needle):
    rows = _sweep(home, misbehave, *args)
    assert rows["torch-eager/fp32/t1/b1"]["status"] == "ok"  # the sweep went on around the compression
    assert rows["onnxruntime/fp32/t1/b1"]["status"] == "ok"
    compressed = [r for k, r in rows.items() if "int8-dynamic" in k]
    assert compressed, rows.keys()
    for row in compressed:
        assert row["status"] == "failed" and row["reason_class"] == reason_class, row
        assert "compression int8-dynamic" in row["reason"] and needle in row["reason"], row["reason"]


@pytest.mark.slow  # one metric worker per row
def test_a_metric_callable_that_crashes_is_a_row_not_a_dead_parent(home):
    rows = _sweep(home, "", "--metric", "cnet:metric_segfaults")
    assert len(rows) >= 3, rows.keys()
    for row in rows.values():
        assert row["status"] == "failed" and row["reason_class"] == "crash" and "SIGSEGV" in row["reason"]


def test_a_calibration_callable_that_raises_stops_the_run_in_one_line(home):
    (home.parent / "cnet.py").write_text(MODEL)
    proc = cli("run", "cnet:build", "--runtimes", "onnxruntime", "--compress", "int8-static-minmax", "--calib",
               "cnet:calib_raises", *FAST_ARGS)
    one_line_error(proc, "calibration shard missing")


def test_a_metric_module_that_does_not_import_is_one_line(home):
    (home.parent / "cnet.py").write_text(MODEL)
    proc = cli("run", "cnet:build", "--runtimes", "onnxruntime", "--compress", "int8-dynamic", "--metric",
               "no_such_module_here:score", *FAST_ARGS)
    one_line_error(proc, "cannot import metric", "no_such_module_here")
