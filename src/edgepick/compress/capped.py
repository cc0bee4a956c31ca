"""The parent side of compression: each user-controlled step handed to a capped worker (launch/isolated.run_task).

In a worker, under the step timeout and memory cap: reading --calib/--train-data (files, or the user's callables),
importing a --metric module:function and scoring with it, converting the model to a compressor's input, the
compression itself (ORT quantizers, NNCF, PT2E, pruning and distillation load and run the user's model), converting
a compressed artifact to its runtime's format, and the per-node sensitivity analysis. The parent keeps only arrays
and JSON. A crash, OOM or hang there is a row with its classified reason (one compression configuration; the sweep
goes on) or, for the setup the whole compression axis needs, one line: the run cannot go on without it.

The parent writes what the workers share once, into a context folder (its files and jobs: compress/context.py). The
worker side (worker/compress_tasks.py, dispatched by worker/tasks.py) rebuilds a CompressSetup from those files and
calls the same plan/search code; it imports compress/context.py, never this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from edgepick.compress.context import CONTEXT_FILES, job_of, load_arrays, load_train, save_calibration, save_train
from edgepick.core import errors, paths
from edgepick.core.errors import CandidateFailure, UserError


def _is_user_text(arg) -> bool:
    """A path or module:callable the worker can read; arrays from the Python API are the caller's own, used as is."""
    return isinstance(arg, (str, os.PathLike))


def setup(request, spec, data, reference, artifacts_root: Path):
    """plan.setup with the user's data callables and metric run in a worker; raises UserError (the run stops)."""
    from edgepick.compress.calib import CalibrationSet, calibration_set
    from edgepick.compress.metrics import BUILTIN, parse_drop, resolve_metric
    from edgepick.compress.setup import CompressSetup

    (paths.home() / "tmp").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="compress-", dir=paths.home() / "tmp"))
    files = {k: str(work / v) for k, v in CONTEXT_FILES.items()}
    data.save(Path(files["inputs"]))
    if data.labels is not None:
        np.save(files["labels"], np.asarray(data.labels), allow_pickle=False)
    np.savez(files["reference"], *reference)
    calib_arg, train_arg = request.compression.calib, request.compression.train_data
    job = {"signature": spec.signature.to_dict(), "files": files, "eval_source": data.source,
           "calib": str(calib_arg) if _is_user_text(calib_arg) else None, "calib_size": request.compression.calib_size,
           "train_data": str(train_arg) if _is_user_text(train_arg) else None, "data_factory": spec.data_factory,
           "metric": request.compression.metric, "has_labels": data.labels is not None}
    calib = None
    if calib_arg is not None and not _is_user_text(calib_arg):  # (x, y) arrays from the API: no user code to run
        calib = calibration_set(calib_arg, data.inputs, data.source, spec.signature, job["calib_size"])
        save_calibration(calib, files["calib"])
        job["calib_given"] = True
    result = _run_or_line("compress-setup", job, work / "setup", request, "preparing compression (calibration, "
                          "training data, metric)")
    calib = calib or CalibrationSet(load_arrays(files["calib"]), **result["calibration"])
    train = None
    if train_arg is not None and not _is_user_text(train_arg):
        from edgepick.inputs.data import read_data_arg

        x, y, _ = read_data_arg(train_arg, spec.signature, 10**9)
        train = (next(iter(x.values())), y)
    elif result["has_train"]:
        train = load_train(files["train"])
    name = request.compression.metric
    if name is None or name in BUILTIN:
        metric = resolve_metric(name, data.labels is not None)
    else:  # the user's module:function: imported and called only in workers
        metric = IsolatedMetric(name, work, request)
    cs = CompressSetup(metric, parse_drop(request.compression.max_acc_drop), calib, result["reference_score"],
                       train, spec, data, reference, artifacts_root, max(request.workload.threads))
    cs.request, cs.context = request, {"dir": str(work), "files": files, "metric": name, "eval_source": data.source}
    cs.steps = InWorkers
    return cs


def _run_or_line(task: str, job: dict, work: Path, request, what: str) -> dict:
    from edgepick.launch.isolated import run_task

    result = run_task(task, job, work, request)
    if result["status"] == "user-error":
        raise UserError(result["message"])
    if result["status"] != "ok":
        why = result.get("reason") or result.get("message") or "no reason given"
        raise UserError(f"the run cannot continue: {what} failed in its capped worker: {why}")
    return result


class IsolatedMetric:
    """A --metric module:function scored in a worker: the Metric interface, with no user code in this process."""

    needs_labels = False

    def __init__(self, name: str, context_dir: Path, request):
        self.name, self._dir, self._request, self._calls = name, Path(context_dir), request, 0

    def score(self, outputs, labels, reference) -> float:
        from edgepick.launch.isolated import run_task

        self._calls += 1
        work = self._dir / f"metric-{self._calls}"
        work.mkdir(parents=True, exist_ok=True)
        np.savez(work / "outputs.npz", *outputs)
        np.savez(work / "reference.npz", *reference)
        if labels is not None:
            np.save(work / "labels.npy", np.asarray(labels), allow_pickle=False)
        job = {"metric": self.name, "outputs": str(work / "outputs.npz"), "reference": str(work / "reference.npz"),
               "labels": str(work / "labels.npy") if labels is not None else None}
        result = run_task("compress-metric", job, work, self._request)
        shutil.rmtree(work, ignore_errors=True)  # arrays written for this one call
        if result["status"] == "user-error":
            raise UserError(result["message"])
        if result["status"] != "ok":
            why = result.get("reason") or result.get("message") or "no reason given"
            raise CandidateFailure(result.get("reason_class") or errors.RUNTIME_ERROR,
                                   f"--metric {self.name} failed in its capped worker: {why}")
        return float(result["score"])


def metric_for_parent(name: str | None, has_labels: bool, request):
    """A built-in metric as is; a --metric module:function as an IsolatedMetric (never imported in this process)."""
    from edgepick.compress.metrics import BUILTIN, resolve_metric

    if name is None or name in BUILTIN:
        return resolve_metric(name, has_labels)
    return IsolatedMetric(name, paths.home() / "tmp" / f"metric-{os.getpid()}", request)  # one call at a time


def _failure(result: dict, where: str) -> CandidateFailure:
    why = result.get("reason") or result.get("message") or "no reason given"
    if result["status"] == "failed":
        own = result["reason_class"] in (errors.NOT_INSTALLED, errors.CONVERSION_ERROR) and "compression" in why
        return CandidateFailure(result["reason_class"], why if own else f"{where}: {why}")
    return CandidateFailure(errors.CONVERSION_ERROR, f"{where} failed: {why}")


def produce(name: str, label: str, options: dict, cs):
    """plan.produce in a worker (worker/compress_tasks.py): (artifact, steps, record), or a CandidateFailure."""
    from edgepick.core.artifact import Artifact

    if cs.train is not None and not Path(cs.context["files"]["train"]).exists():
        save_train(cs.train, cs.context["files"]["train"])
    job = dict(job_of(cs), compressor=name, label=label, options=options)
    result = run_in_context(cs, "compress", job, f"produce-{name}--{label}")
    if result["status"] != "ok":
        raise _failure(result, f"compression {label}")
    return Artifact.from_dict(result["artifact"]), result["steps"], result["record"]


def run_in_context(cs, task: str, job: dict, folder: str) -> dict:
    from edgepick.launch.isolated import run_task

    return run_task(task, job, Path(cs.context["dir"]) / folder.replace("/", "_"), cs.request)


def convert(cand, spec, artifacts_root: Path, request, run_dir: Path):
    """A compressed artifact to its runtime's format in a worker, with every step it took (compression first)."""
    from edgepick.core.artifact import Artifact
    from edgepick.launch.isolated import run_task

    if not cand.path:
        return Artifact.from_dict(cand.start), list(cand.steps or [])
    job = {"path": list(cand.path), "artifact": cand.start, "signature": spec.signature.to_dict(),
           "cache_root": cand.cache_dir, "check_steps": False}  # compressed outputs differ from FP32 by design
    result = run_task("convert", job, run_dir / "convert" / cand.key.replace("/", "_"), request)
    if result["status"] != "ok":
        raise _failure(result, f"conversion {' -> '.join(cand.path)} of {cand.compression}")
    return Artifact.from_dict(result["artifact"]), list(cand.steps or []) + result["steps"]


def sensitivity(cs, compressor: str, opts: dict) -> list[dict]:
    """search.sensitivity (quantize with one node left float, run, score; per node) in a worker."""
    job = dict(job_of(cs), compressor=compressor, options=opts)
    digest = hashlib.sha256(json.dumps(opts, sort_keys=True, default=str).encode()).hexdigest()[:12]
    result = run_in_context(cs, "compress-sensitivity", job, f"sensitivity-{compressor}-{digest}")
    if result["status"] != "ok":
        raise RuntimeError(result.get("reason") or result.get("message") or "no reason given")
    return result["ranked"]


class InWorkers:
    """The steps plan.py and search.py hand over for a parent's CompressSetup (cs.steps): each runs in a capped worker.

    Passed in rather than imported there, so the code a worker runs (plan, search) never reaches this parent side."""

    produce = staticmethod(produce)
    sensitivity = staticmethod(sensitivity)


def cleanup(cs) -> None:
    if cs is not None and cs.context:
        shutil.rmtree(cs.context["dir"], ignore_errors=True)
