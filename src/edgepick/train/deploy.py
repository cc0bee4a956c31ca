"""Deployment reach: each framework's trained model, in its native format, straight into edgepick's inference sweep.

PyTorch's model goes in as the torch.export program it saved (.pt2), Keras' as its .keras file (whatever backend
trained it: the file is backend-agnostic), MXNet's as the ONNX file its own exporter (mx.onnx.export_model) wrote from
the symbol+params it saved; if that export fails, the row says why.
The sweep is the ordinary one (edgepick.sweep.scheduler.execute with a Request): conversion, equivalence against the trained
model's own outputs, latency in isolated workers; the row keeps how many runtimes were tried, how many ran, how many
agreed, and the best median latency among those that agreed, plus the sweep's run id for `edgepick show`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepick.core.errors import UserError
from edgepick.core.job import TimingPolicy
from edgepick.train import data as train_data

# Short windows: reach and agreement are the point here; `edgepick run MODEL` measures one model at length.
TIMING = TimingPolicy(warmup_count=5, warmup_s=0.1, min_samples=30, min_duration_s=0.3, max_duration_s=5.0)
SWEEP_INPUTS = ("torch-exported", "keras", "onnx")


def _eval_file(folder: Path, channels_last: bool) -> Path:
    path = folder / ("deploy-eval-nhwc.npz" if channels_last else "deploy-eval-nchw.npz")
    if not path.exists():
        arrays = train_data.load(str(folder / "data.npz"))
        x = train_data.to_nhwc(arrays["x_eval"]) if channels_last else arrays["x_eval"]
        np.savez(path, x=x, y=arrays["y_eval"])
    return path


def deploy_row(row: dict, config, folder: Path) -> None:
    artifact = row.get("artifact")
    if not artifact:
        row["deploy"] = {"tried": 0, "agreed": None, "note": row.get("artifact_error") or "no trained model was saved"}
        return
    if artifact["format"] not in SWEEP_INPUTS:
        row["deploy"] = {"tried": 0, "agreed": None, "format": artifact["format"],
                         "note": artifact.get("onnx_error") or f"edgepick's sweep reads no {artifact['format']} input"}
        return
    from edgepick.sweep.scheduler import Request, execute

    request = Request(model=artifact["path"], runtimes=config.deploy_runtimes, batches=[1], threads=[config.threads],
                      data=str(_eval_file(folder, artifact["format"] == "keras")), timing=TIMING, noise_retry=False,
                      cores=config.cores, db_url=config.db_url, timeout_s=min(config.timeout_s, 300.0))
    try:
        run = execute(request)
    except UserError as e:
        row["deploy"] = {"tried": 0, "agreed": None, "format": artifact["format"], "note": f"sweep refused it: {e}"}
        return
    ran = [r for r in run.rows if r["status"] in ("ok", "disagrees")]
    agreed = [r for r in run.rows if r["status"] == "ok"]
    best = min(agreed, key=lambda r: r["latency_ms"]["p50"]) if agreed else None
    row["deploy"] = {"run_id": run.run_id, "format": artifact["format"], "via": artifact.get("via"),
                     "tried": len(run.rows), "reached": len(ran),
                     "agreed": len(agreed), "best_p50_ms": best["latency_ms"]["p50"] if best else None,
                     "best_runtime": best["runtime"] if best else None,
                     "runtimes": {r["runtime"]: r["status"] if r["status"] == "ok" else r.get("reason_class")
                                  for r in run.rows}}
