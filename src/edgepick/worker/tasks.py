"""`python -m edgepick.worker.tasks job.json`: the sweep's own steps that run user-controlled work, in a worker.

The reference outputs (the user's model), the eval inputs (the user's data callable, or synthesis from a declared
shape) and each conversion (converters reading the user's file) run here, under the timeout and memory cap the
candidates get (launch/isolated.py starts this). The result is a JSON file the parent reads:
    {"status": "ok", ...}                         the task's answer (arrays go to .npz files beside it)
    {"status": "user-error", "message": ...}      a UserError: the parent raises it as one line
    {"status": "failed", "reason_class", "reason"} a CandidateFailure (a conversion): the parent records the row
    {"status": "error", "message", "traceback"}   anything else: the parent says which step failed, in one line
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback
from pathlib import Path

import numpy as np

from edgepick.core import errors


def _spec(job: dict):
    """The model as the parent described it (artifact + signature), with its nn.Module rebuilt for torch input."""
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.model import ModelSpec
    from edgepick.inputs.signature import Signature

    artifact = Artifact.from_dict(job["artifact"])
    spec = ModelSpec(job.get("name", "model"), artifact, Signature.from_dict(job["signature"]), "")
    if artifact.format.startswith("torch") and job.get("needs_module", True):
        from edgepick.runtimes.torch_eager import load_torch_module

        spec.module = load_torch_module(artifact)
    return spec


def reference(job: dict) -> dict:
    from edgepick.inputs.data import load_inputs_npz
    from edgepick.worker.reference import reference_outputs

    label, outputs = reference_outputs(_spec(job), load_inputs_npz(Path(job["inputs"])), job["threads"])
    np.savez(job["outputs"], *outputs)
    return {"label": label, "count": len(outputs)}


def eval_inputs(job: dict) -> dict:
    from edgepick.inputs.data import eval_data
    from edgepick.inputs.signature import Signature

    sig = Signature.from_dict(job["signature"])
    data = eval_data(job.get("data_factory"), sig, job.get("data"), job["limit"])
    data.save(Path(job["outputs"]))
    if data.labels is not None:
        np.save(job["labels"], np.asarray(data.labels), allow_pickle=False)
    return {"source": data.source, "signature": sig.to_dict(), "has_labels": data.labels is not None}


def convert(job: dict) -> dict:
    from edgepick.convert.chain import convert_along
    from edgepick.convert.stepcheck import check_steps
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.signature import Signature

    checking = job.get("check_steps") is not False  # a compressed artifact's outputs differ from FP32 by design
    check = _step_check(job) if checking else None
    samples = check.against[0] if check else None  # the eval inputs, for converters that run the model (onnx2tf)
    artifact, steps = convert_along(job["path"], Artifact.from_dict(job["artifact"]), Signature.from_dict(job["signature"]),
                                    Path(job["cache_root"]), None, check=check, samples=samples)
    if checking:
        check_steps(job["path"], steps, Path(job["cache_root"]), *check.against)
    return {"artifact": artifact.to_dict(), "steps": steps}


def simplify(job: dict) -> dict:
    """The onnxslim-simplified graph a runtime that refused the model is measured on again (convert/static.py), made
    and checked against the reference here, before the runtime builds on it."""
    from edgepick.convert.static import simplified_step
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.signature import Signature

    simple, step = simplified_step(Artifact.from_dict(job["artifact"]), Signature.from_dict(job["signature"]),
                                   Path(job["step_dir"]), job["first_error"], _step_check(job))
    return {"artifact": simple.to_dict(), "step": step}


def _step_check(job: dict):
    """check(artifact) -> its equivalence with the reference on the eval inputs (convert/stepcheck.py)."""
    from edgepick.convert.stepcheck import check_artifact
    from edgepick.inputs.data import load_inputs_npz
    from edgepick.measure.equivalence import Tolerance

    with np.load(job["reference"], allow_pickle=False) as f:
        ref = [f[k] for k in f.files]
    against = (load_inputs_npz(Path(job["inputs"])), ref, Tolerance(**job["tolerance"]))

    def check(artifact):
        return check_artifact(artifact, *against)

    check.against = against
    return check


def load(job: dict) -> dict:
    """load_model: the user's file parsed, the factory imported and called, here; the parent gets plain data back."""
    from edgepick.core import paths
    from edgepick.inputs.model import export_module, load_model
    from edgepick.inputs.signature import apply_shapes, parse_input_shapes

    spec = load_model(job["source"], trust_pickle=job["trust_pickle"])
    if spec.artifact.format == "torch-module":  # a factory with other weights per call: save this very instance now
        apply_shapes(spec.signature, parse_input_shapes(job.get("input_shape")))
        spec.signature.whole = spec.signature.whole or job.get("no_batch_axis", False)
        if not all(t.resolved for t in spec.signature.inputs) or not spec.signature.inputs:
            raise errors.UserError(f"the factory '{job['source']}' gives other weights on each call (an unseeded "
                                   "init), so this one instance is saved before --data is read: give --input-shape, "
                                   "or seed the factory (torch.manual_seed)")
        root = paths.home() / "artifacts" / spec.content_hash[:16]
        root.mkdir(parents=True, exist_ok=True)
        export_module(spec, root)
    return {"name": spec.name, "artifact": spec.artifact.to_dict(), "signature": spec.signature.to_dict(),
            "content_hash": spec.content_hash, "data_factory": spec.data_factory}


TASKS = {"reference": reference, "eval-inputs": eval_inputs, "convert": convert, "simplify": simplify,
         "load-model": load}


def _task(name: str):
    if name.startswith("compress"):  # compression's steps (worker/compress_tasks.py): same worker, same caps
        from edgepick.worker.compress_tasks import TASKS as COMPRESS_TASKS

        return COMPRESS_TASKS[name]
    return TASKS[name]


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    if job.get("cores"):
        os.sched_setaffinity(0, job["cores"])
    if job.get("rlimit_as_bytes"):
        resource.setrlimit(resource.RLIMIT_AS, (job["rlimit_as_bytes"], job["rlimit_as_bytes"]))
    try:
        result = {"status": "ok", **_task(job["task"])(job)}
    except errors.UserError as e:
        result = {"status": "user-error", "message": str(e)}
    except errors.CandidateFailure as e:
        result = {"status": "failed", "reason_class": e.reason_class, "reason": e.message}
    except MemoryError:
        result = {"status": "failed", "reason_class": errors.OOM, "reason": "MemoryError"}
    except (Exception, SystemExit) as e:  # the user's code (a model, a data callable) failed: say it, keep the trace
        text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        if isinstance(e, SystemExit):
            text = f"it called sys.exit({e.code!r})"
        result = {"status": "error", "message": f"{type(e).__name__}: {text}" if text else type(e).__name__,
                  "traceback": traceback.format_exc()[-4000:]}
    tmp = Path(job["result"]).with_suffix(".tmp")
    tmp.write_text(json.dumps(result, default=str))
    os.replace(tmp, job["result"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
