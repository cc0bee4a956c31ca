"""The contract end to end: a real worker's result is all declared, and a metric declared once in core/job.py reaches
--json, the store, `show --wide`, the Markdown table and the HTML report with no other edit (issue 20)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from edgepick.core import job
from edgepick.core.artifact import Artifact

SRC = Path(job.__file__).parents[1]  # src/edgepick

# The worker phase that measures the planted metric: one line in the last phase every measurement passes through.
WORKER_LINE = ('    result["phase"] = "done"\n', '    result["phase"] = "done"\n    result["planted_ms"] = 1.25\n')
# Declaring it: one line in core/job.py FIELDS. This is the whole diff a new metric column needs.
DECLARATION = ('    swept("prediction",',
               '    measured("planted_ms", float, "ms", "a planted figure", column=Column("planted ms", ".2f")),\n'
               '    swept("prediction",')

# A sweep of the tiny model on onnxruntime, then each view of the stored run, all in a fresh interpreter that imports
# the planted copy of the package.
SCRIPT = r"""
import json, sys
from typer.testing import CliRunner
import edgepick
from edgepick.cli.main import app
from edgepick.core.job import TimingPolicy
from edgepick.store.db import Store

model, db, out = sys.argv[1:4]
fast = TimingPolicy(warmup_count=2, warmup_s=0.0, min_samples=5, min_duration_s=0.05, max_duration_s=5.0)
run = edgepick.pick(model, runtimes=["onnxruntime"], threads=[1], batches=[1], timing=fast, noise_retry=False,
                    db_url=db)
views = {}
for name, flags in {"json": ["--json"], "wide": ["--wide"], "markdown": ["--markdown"]}.items():
    views[name] = CliRunner().invoke(app, ["show", run.run_id, "--db", db, *flags]).output
CliRunner().invoke(app, ["report", run.run_id, "--db", db, "-o", out + "/report.html"])
views["html"] = open(out + "/report.html").read()
views["store"] = Store(db).get_run(run.run_id).candidates[0].metrics
print(json.dumps(views))
"""


def _planted_copy(tmp_path: Path, declare: bool) -> Path:
    root = tmp_path / ("declared" if declare else "undeclared")
    shutil.copytree(SRC, root / "edgepick", ignore=shutil.ignore_patterns("__pycache__"))
    for rel, (old, new) in [("worker/measure.py", WORKER_LINE)] + ([("core/job.py", DECLARATION)] if declare else []):
        path = root / "edgepick" / rel
        text = path.read_text()
        assert text.count(old) == 1, f"{rel} changed: the plant no longer finds its line"
        path.write_text(text.replace(old, new))
    return root


def _sweep(root: Path, model: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    out = tmp_path / root.name
    env = dict(os.environ, PYTHONPATH=str(root), EDGEPICK_HOME=str(out / "home"), EDGEPICK_STRICT_CONTRACT="1")
    return subprocess.run([sys.executable, "-c", SCRIPT, str(model), f"sqlite:///{out / 'r.db'}", str(out)],
                          capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)


def test_an_undeclared_metric_fails_and_a_declared_one_reaches_every_view(tmp_path, tiny_onnx):
    undeclared = _sweep(_planted_copy(tmp_path, declare=False), tiny_onnx, tmp_path)
    assert undeclared.returncode != 0
    assert "ContractError: 'planted_ms' is not a field a worker's result may carry" in undeclared.stderr

    declared = _sweep(_planted_copy(tmp_path, declare=True), tiny_onnx, tmp_path)
    assert declared.returncode == 0, declared.stderr[-3000:]
    views = json.loads(declared.stdout.splitlines()[-1])
    (cand,) = json.loads(views["json"])["candidates"]
    assert cand["status"] == "ok" and cand["planted_ms"] == 1.25
    assert list(cand)[list(cand).index("probe") + 1] == "planted_ms"  # where it was declared, in the JSON order
    assert views["store"]["planted_ms"] == 1.25
    for name in ("wide", "markdown", "html"):
        assert "planted ms" in views[name] and "1.25" in views[name], name


def test_a_real_workers_result_carries_only_declared_fields(tmp_path, tiny_onnx, fast):
    """Every phase a measurement can run (probe, steady state, LoadGen, op profile, frame loop, eval), in the real
    worker process: a key that any of them writes without a declaration in core/job.py fails here."""
    from edgepick.launch.subprocess import run_worker

    x = np.random.default_rng(0).standard_normal((6, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", **{"in:input": x})
    work = {"runtime": "onnxruntime", "artifact": Artifact("onnx", str(tiny_onnx)).to_dict(), "threads": 1, "batch": 2,
            "cores": None, "inputs": str(tmp_path / "inputs.npz"), "timing": fast.to_dict(), "probe": {"bar": None},
            "loadgen": job.LoadGenSettings("SingleStream", min_duration_s=0.1, min_queries=10).to_dict(),
            "profile_runs": 2, "realtime": job.RealtimeSettings(frames=10).to_dict()}
    result = run_worker(work, tmp_path / "w", timeout_s=300, memory_limit=2**31)
    assert result["status"] == "ok", result.get("reason")
    assert job.problems(result) == []
    ran = {"probe", "latency_ms", "energy", "loadgen", "op_profile", "realtime", "memory_cap", "worker_wall_s"}
    assert ran <= set(result) and "error" not in result["realtime"], result.get("realtime")
