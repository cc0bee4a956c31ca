"""`compress-*` tasks: compression's user-controlled work inside a capped worker (worker/tasks.py dispatches here).

The parent side (compress/capped.py) wrote the context folder once: eval inputs, labels, reference outputs,
calibration and training arrays. Each task rebuilds the parent's CompressSetup from those files (compress/context.py,
the one module both sides import), with the metric resolved here (a --metric module:function is imported only in a
worker), and calls the same plan/search code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepick.compress.context import labels_of, load_outputs, save_calibration, save_train, setup_from_job


def setup_task(job: dict) -> dict:
    from edgepick.compress import plan
    from edgepick.compress.calib import calibration_set
    from edgepick.compress.metrics import resolve_metric
    from edgepick.inputs.data import load_inputs_npz, read_data_arg
    from edgepick.inputs.model import ModelSpec
    from edgepick.inputs.signature import Signature

    files, sig = job["files"], Signature.from_dict(job["signature"])
    described = None
    if not job.get("calib_given"):  # --calib's file or callable, or a seeded subset of the eval inputs
        inputs = dict(load_inputs_npz(Path(files["inputs"])))
        calib = calibration_set(job["calib"], inputs, job["eval_source"], sig, job["calib_size"])
        save_calibration(calib, files["calib"])
        described = {k: v for k, v in calib.describe().items() if k != "size"}
    train = None
    if job["train_data"]:
        x, y, _ = read_data_arg(job["train_data"], sig, 10**9)
        train = (next(iter(x.values())), y)
    elif job["data_factory"]:
        train = plan._zoo_train(ModelSpec("model", None, sig, "", job["data_factory"]))
    if train is not None:
        save_train(train, files["train"])
    metric = resolve_metric(job["metric"], job["has_labels"])
    reference = load_outputs(files["reference"])
    return {"calibration": described, "has_train": train is not None,
            "reference_score": metric.score(reference, labels_of(files), reference)}


def produce_task(job: dict) -> dict:
    from edgepick.compress import plan

    artifact, steps, record = plan.produce(job["compressor"], job["label"], job["options"], setup_from_job(job))
    return {"artifact": artifact.to_dict(), "steps": steps, "record": record}


def sensitivity_task(job: dict) -> dict:
    import contextlib
    import sys

    from edgepick.compress import search
    from edgepick.compress.plan import fp32_onnx

    cs = setup_from_job(job)
    with contextlib.redirect_stdout(sys.stderr):  # ORT's calibrators print
        return {"ranked": search.sensitivity(fp32_onnx(cs), cs, job["compressor"], job["options"])}


def metric_task(job: dict) -> dict:
    from edgepick.compress.metrics import resolve_metric

    labels = np.load(job["labels"], allow_pickle=False) if job.get("labels") else None
    metric = resolve_metric(job["metric"], labels is not None)
    return {"score": metric.score(load_outputs(job["outputs"]), labels, load_outputs(job["reference"]))}


TASKS = {"compress-setup": setup_task, "compress": produce_task, "compress-sensitivity": sensitivity_task,
         "compress-metric": metric_task}
