"""The sweep's own user-controlled steps, each in a capped worker (worker/tasks.py): reference, inputs, conversions.

The parent process never runs the user's model, data callable or a converter itself: a model that segfaults, a
declared 1x3x100000x100000 input, a converter that hangs, each hits the same timeout and memory cap as a candidate.
A failure becomes one line (reference, inputs: the run cannot go on without them) or a classified row (conversion).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgepick.core import errors, paths
from edgepick.core.errors import CandidateFailure, UserError
from edgepick.launch import conversion_memo, memcap
from edgepick.launch.subprocess import classify, spawn_capped

# Steps (loading, eval inputs, reference, conversions, compression) run under the candidates' own limits, as the
# issue asks: --timeout and --memory-limit, never silently raised. Where a step needs other limits than a measurement,
# the user says so: --step-timeout (a conversion may need minutes where one measurement needs seconds) and
# --step-memory-limit. One exception, stated in `--device`'s help and here: a device profile's memory models the
# *target's* RAM, while the steps run on this host (a deployment converts on the host too), and importing PyTorch
# alone takes ~0.4 GB; so with a cap that came from a profile (not from --memory-limit), steps get at least
# DEVICE_STEP_MEMORY_FLOOR unless --step-memory-limit says otherwise. The hint in a step's timeout line says how.
DEVICE_STEP_MEMORY_FLOOR = 2 * 2**30


def step_limits(request) -> tuple[float, int | None]:
    timeout = request.time.step_timeout_s or request.time.timeout_s
    limit = request.target.step_memory_limit or request.target.memory_limit
    device_cap = (request.target.device or {}).get("memory_cap_bytes")
    if not request.target.step_memory_limit and limit and device_cap and limit == device_cap:
        limit = max(limit, DEVICE_STEP_MEMORY_FLOOR)
    return timeout, limit


def run_task(task: str, job: dict, work_dir: Path, request) -> dict:
    """Run one task in a worker under the step limits; always returns a result with a status."""
    work_dir.mkdir(parents=True, exist_ok=True)
    timeout, limit = step_limits(request)
    mechanism = memcap.choose(limit, request.target.memory_mechanism)
    job = dict(job, task=task, result=str(work_dir / "result.json"), cores=request.target.cores)
    if mechanism == "rlimit-as":
        job["rlimit_as_bytes"] = limit
    (work_dir / "job.json").write_text(json.dumps(job))
    (work_dir / "result.json").unlink(missing_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", EDGEPICK_WORKER_ROLE=task)
    outcome = spawn_capped(sys.executable, "edgepick.worker.tasks", work_dir / "job.json", work_dir, timeout, limit,
                           mechanism, env)
    path = work_dir / "result.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    if outcome.oom and result.get("status") in (None, "ok"):
        result = {}
    if not result.get("status") or (outcome.oom and result["status"] != "ok"):
        reason_class, reason = classify(outcome, work_dir / "worker.log", timeout, limit, mechanism)
        result = {"status": "failed", "reason_class": reason_class, "reason": reason}
    return result


def load_model_isolated(request):
    """load_model in a worker: the file is parsed, the factory imported and called there; the parent gets the name,
    artifact, signature and hash. An nn.Module from the Python API is already in the caller's process: used as is."""
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.model import ModelSpec, load_model
    from edgepick.inputs.signature import Signature

    if not isinstance(request.model, (str, os.PathLike)):
        return load_model(request.model, trust_pickle=request.workload.trust_pickle)
    (paths.home() / "tmp").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="load-model-", dir=paths.home() / "tmp"))
    try:
        job = {"source": str(request.model), "trust_pickle": request.workload.trust_pickle, "input_shape": request.workload.input_shape,
               "no_batch_axis": request.workload.no_batch_axis}
        result = run_task("load-model", job, work, request)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if result["status"] == "user-error":
        raise UserError(result["message"])
    if result["status"] != "ok":
        raise UserError(f"loading the model {request.model} failed in its capped worker: {_why(result)}"
                        f"{_reference_hint(result, request)}")
    return ModelSpec(result["name"], Artifact.from_dict(result["artifact"]), Signature.from_dict(result["signature"]),
                     result["content_hash"], result["data_factory"])


def _why(result: dict) -> str:
    return result.get("reason") or result.get("message") or "no reason given"


def eval_data_isolated(spec, request):
    """data.eval_data in a worker: the user's data callable, .npz reading and synthesis all happen there."""
    from edgepick.inputs.data import EvalData, eval_data, load_inputs_npz
    from edgepick.inputs.signature import Signature

    if request.workload.data is not None and not isinstance(request.workload.data, (str, os.PathLike)):  # arrays from the Python API
        return eval_data(spec.data_factory, spec.signature, request.workload.data, request.workload.data_limit)
    (paths.home() / "tmp").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="eval-inputs-", dir=paths.home() / "tmp"))
    try:
        job = {"signature": spec.signature.to_dict(), "data": None if request.workload.data is None else str(request.workload.data),
               "data_factory": spec.data_factory, "limit": request.workload.data_limit,
               "outputs": str(work / "inputs.npz"), "labels": str(work / "labels.npy")}
        result = run_task("eval-inputs", job, work, request)
        if result["status"] == "user-error":
            raise UserError(result["message"])
        if result["status"] != "ok":
            what = f"the data {request.workload.data}" if request.workload.data is not None else _declared(spec.signature)
            raise UserError(f"preparing the eval inputs ({what}) failed in its capped worker: {_why(result)}; "
                            f"{_inputs_hint(request)}")
        spec.signature.inputs[:] = Signature.from_dict(result["signature"]).inputs  # dims resolved from the data
        labels = np.load(work / "labels.npy", allow_pickle=False) if result["has_labels"] else None
        return EvalData(load_inputs_npz(work / "inputs.npz"), labels, result["source"])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _declared(sig) -> str:
    shapes = ", ".join(f"{t.name} {'x'.join('?' if d is None else str(d) for d in t.shape)} {t.dtype}" for t in sig.inputs)
    return f"synthetic, from the declared input {shapes}" if shapes else "synthetic"


def _inputs_hint(request) -> str:
    cap = " or raise --memory-limit" if request.target.memory_limit else ""
    return f"declare a smaller --input-shape{cap}, or give --data"


def reference_isolated(spec, inputs_path: Path, run_dir: Path, threads: int, request) -> tuple[str, list[np.ndarray]]:
    """reference_outputs in a worker. Raises UserError (one line) when it cannot be computed: nothing can be compared."""
    work = run_dir / "reference"
    job = {"artifact": spec.artifact.to_dict(), "signature": spec.signature.to_dict(), "name": spec.name,
           "threads": threads, "inputs": str(inputs_path), "outputs": str(work / "outputs.npz")}
    result = run_task("reference", job, work, request)
    if result["status"] == "user-error":
        raise UserError(f"the run cannot continue: {result['message']}")
    if result["status"] != "ok":
        raise UserError(f"the run cannot continue: the reference outputs of {spec.name} (every candidate is compared "
                        f"with them) could not be computed in their capped worker: {_why(result)}"
                        f"{_reference_hint(result, request)}")
    label = result["label"].replace("(in-process)", "(isolated worker)")
    with np.load(work / "outputs.npz", allow_pickle=False) as f:
        return label, [f[f"arr_{i}"] for i in range(result["count"])]


def _reference_hint(result: dict, request) -> str:
    if result.get("reason_class") == errors.OOM:
        return "; raise --memory-limit or use smaller inputs"
    if result.get("reason_class") == errors.TIMEOUT:
        return "; raise --timeout, or give the steps (load, inputs, reference, conversion) their own with --step-timeout"
    return ""


def reference_path(run_dir: Path) -> Path:
    return run_dir / "reference" / "outputs.npz"


def convert_isolated(path: list[str], spec, artifacts_root: Path, inputs_path: Path, run_dir: Path, request):
    """convert_along + check_steps in a worker. Returns (artifact, steps) or raises CandidateFailure (a row)."""
    from edgepick.core.artifact import Artifact

    if not path:  # the runtime reads the model as given: nothing to convert
        return spec.artifact, []
    work = run_dir / "convert" / "+".join(path)
    job = {"path": list(path), "artifact": spec.artifact.to_dict(), "signature": spec.signature.to_dict(),
           "cache_root": str(artifacts_root), "inputs": str(inputs_path), "reference": str(reference_path(run_dir)),
           "tolerance": request.workload.tolerance.to_dict()}
    record = conversion_memo.record_path(job, artifacts_root, spec.content_hash)
    result = conversion_memo.lookup(record, artifacts_root)  # made and checked before: no worker needed
    if result is None:
        result = run_task("convert", job, work, request)
        if result["status"] == "ok":
            conversion_memo.keep(record, result["artifact"], result["steps"])
    if result["status"] == "ok":
        return Artifact.from_dict(result["artifact"]), result["steps"]
    where = f"conversion {' -> '.join(path)}"
    if result["status"] == "failed":
        raise CandidateFailure(result["reason_class"], result["reason"] if result["reason_class"] in
                               (errors.NOT_INSTALLED, errors.CONVERSION_ERROR) else f"{where}: {result['reason']}")
    raise CandidateFailure(errors.CONVERSION_ERROR, f"{where} failed: {_why(result)}")


def simplify_isolated(artifact, signature, step_dir: Path, first_error: str, inputs_path: Path, run_dir: Path, request):
    """The onnxslim step of convert/static.py, made and checked against the reference in a worker (it reads the
    user's graph). Returns (artifact, step) or raises CandidateFailure (disagrees: the step changed the model)."""
    from edgepick.core.artifact import Artifact

    work = run_dir / "simplify" / step_dir.name
    job = {"artifact": artifact.to_dict(), "signature": signature.to_dict(), "step_dir": str(step_dir),
           "first_error": first_error, "inputs": str(inputs_path), "reference": str(reference_path(run_dir)),
           "tolerance": request.workload.tolerance.to_dict()}
    result = run_task("simplify", job, work, request)
    if result["status"] == "ok":
        return Artifact.from_dict(result["artifact"]), result["step"]
    if result["status"] == "failed":
        raise CandidateFailure(result["reason_class"], result["reason"])
    raise CandidateFailure(errors.CONVERSION_ERROR, f"onnxslim failed: {_why(result)}")
