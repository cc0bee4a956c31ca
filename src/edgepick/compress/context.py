"""The compression context: the files and the job both sides of the process boundary read and write.

The parent (compress/capped.py) writes what every compression step shares once, into a context folder: eval inputs,
labels, reference outputs, calibration and training arrays; each step's job names those files. The worker
(worker/compress_tasks.py) rebuilds the parent's CompressSetup from them. Both import this module and nothing of
each other: the format is declared here once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CONTEXT_FILES = {"inputs": "inputs.npz", "labels": "labels.npy", "reference": "reference.npz",
                 "calib": "calib.npz", "train": "train.npz"}


def job_of(cs) -> dict:
    """What a worker needs to rebuild the CompressSetup (setup_from_job), written by the parent."""
    return {"files": cs.context["files"], "artifact": cs.spec.artifact.to_dict(), "signature": cs.spec.signature.to_dict(),
            "name": cs.spec.name, "content_hash": cs.spec.content_hash, "artifacts_root": str(cs.artifacts_root),
            "metric": cs.context["metric"], "tolerance": cs.tolerance.to_dict(), "threads": cs.threads,
            "calibration": cs.calibration.describe(), "reference_score": cs.reference_score,
            "eval_source": cs.context["eval_source"], "has_train": cs.train is not None}


def setup_from_job(job: dict):
    """The parent's CompressSetup, rebuilt in a worker from the context files, with the metric resolved there (a
    --metric module:function is user code: it is imported only in a worker)."""
    from edgepick.compress.calib import CalibrationSet
    from edgepick.compress.metrics import DropTolerance, resolve_metric
    from edgepick.compress.setup import CompressSetup
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.data import EvalData, load_inputs_npz
    from edgepick.inputs.model import ModelSpec
    from edgepick.inputs.signature import Signature

    files = job["files"]
    spec = ModelSpec(job["name"], Artifact.from_dict(job["artifact"]), Signature.from_dict(job["signature"]),
                     job["content_hash"])
    labels = labels_of(files)
    data = EvalData(dict(load_inputs_npz(Path(files["inputs"]))), labels, job["eval_source"])
    calib = job["calibration"]
    calibration = CalibrationSet(load_arrays(files["calib"]), calib["source"], calib["seed"], calib["sha256"])
    tol = DropTolerance(job["tolerance"]["value"], job["tolerance"]["relative"])
    train = load_train(files["train"]) if job["has_train"] else None
    return CompressSetup(resolve_metric(job["metric"], labels is not None), tol, calibration, job["reference_score"],
                         train, spec, data, load_outputs(files["reference"]), Path(job["artifacts_root"]), job["threads"])


def save_calibration(calib, path: str) -> None:
    np.savez(path, **calib.inputs)


def load_arrays(path: str) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def save_train(train: tuple, path: str) -> None:
    x, y = train
    np.savez(path, x=np.asarray(x), **({"y": np.asarray(y)} if y is not None else {}))


def load_train(path: str) -> tuple:
    arrays = load_arrays(path)
    return arrays["x"], arrays.get("y")


def labels_of(files: dict):
    return np.load(files["labels"], allow_pickle=False) if Path(files["labels"]).exists() else None


def load_outputs(path: str) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]
