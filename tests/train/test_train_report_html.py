"""`edgepick report` on a training run: a real small PyTorch training (3 seeds x 1 epoch), its stored rows rendered as
the training report (step-time boxes, accuracy-vs-time curves, memory and data-pipeline bars), checked in headless
Chromium like the inference report. Chromium missing is a failure unless EDGEPICK_SKIP_BROWSER=1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.chromium_cdp import find_chromium, inspect_page

pytest.importorskip("torch")
pytest.importorskip("plotly")

PROBE = """[document.querySelectorAll('.plotly-graph-div').length,
            document.querySelectorAll('.plotly-graph-div .box').length,
            document.querySelectorAll('.plotly-graph-div .scatterlayer .trace').length,
            document.querySelectorAll('.plotly-graph-div .bars path').length]"""


def test_training_run_report_has_its_own_charts(home, tmp_path):
    from edgepick.train.config import TrainConfig
    from edgepick.train.runner import execute

    run = execute(TrainConfig(frameworks=["pytorch", "caffe"], seeds=3, epochs=1, threads=1,
                              db_url=f"sqlite:///{home / 'results.db'}"))
    out = tmp_path / "train.html"
    cli = str(Path(sys.executable).with_name("edgepick"))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    proc = subprocess.run([cli, "report", run.run_id, "-o", str(out), "--db", f"sqlite:///{home / 'results.db'}"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "<script src=" not in text and "Plotly.newPlot" in text
    for title in ("Step time after warm-up", "Held-out accuracy vs training time", "Peak RSS of each training worker",
                  "Data pipeline alone"):
        assert title in text
    assert "no maintained Caffe training runtime" in text  # the failed row and its reason are in the table
    torch_row = next(r for r in run.rows if r["framework"] == "pytorch")
    assert f"{torch_row['step_ms']['p50']:.2f}" in text  # the table shows the stored figures

    found = find_chromium()
    if found is None:
        if os.environ.get("EDGEPICK_SKIP_BROWSER") == "1":
            pytest.skip("EDGEPICK_SKIP_BROWSER=1 and chromium is not installed")
        pytest.fail("chromium not found: apt-get install -y chromium, or EDGEPICK_SKIP_BROWSER=1")
    seen = inspect_page(out.as_uri(), PROBE, binary=found)
    assert seen["console_errors"] == [] and seen["exceptions"] == [] and seen["external_requests"] == []
    divs, boxes, traces, bars = seen["probe"]
    assert divs == 4  # step times, accuracy curves, memory, data pipeline
    assert boxes >= 1 and traces >= 3 and bars >= 4  # one curve per seed; import+training and pipeline+training bars
