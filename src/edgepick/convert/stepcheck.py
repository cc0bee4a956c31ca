"""Per-step equivalence along a conversion path, so a row says *which step* broke the outputs.

The final artifact is compared by the sweep from the worker's outputs. Intermediate artifacts (e.g. the ONNX file
on torch -> onnx -> ncnn) are run here, in-process, on a slice of the eval inputs when a light in-process runner
exists for their format (ONNX Runtime for onnx, TorchScript for torchscript, torch.export for torch-exported); other
formats are marked unchecked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgepick.core.artifact import Artifact
from edgepick.inputs.data import join_outputs, parts

MAX_SAMPLES = 32  # enough to catch a broken step; cheap even for 224x224 inputs
MAX_WHOLE_SAMPLES = 8  # a model without a batch axis runs one call (and one load) per sample


def _run_intermediate(artifact: Artifact, inputs: dict[str, np.ndarray]) -> list[np.ndarray] | None:
    if artifact.format == "onnx":
        from edgepick.runtimes.onnxruntime import OnnxRuntime

        if not OnnxRuntime.is_available():
            return None
        session = OnnxRuntime().load(artifact, 1)
        names = [i.name for i in session.session.get_inputs()]
        return session.to_numpy(session.run({n: inputs[k] for n, k in zip(names, inputs)}))
    if artifact.format in ("torchscript", "torch-exported"):
        import torch

        if artifact.format == "torchscript":
            module = torch.jit.load(artifact.path, map_location="cpu")
        else:
            module = torch.export.load(artifact.path).module()
        with torch.inference_mode():
            got = module(*(torch.from_numpy(np.ascontiguousarray(v)) for v in inputs.values()))
        got = (got,) if isinstance(got, torch.Tensor) else tuple(got)
        return [g.numpy() for g in got]
    return None


def _run_whole(artifact: Artifact, inputs: dict[str, np.ndarray]) -> list[np.ndarray] | None:
    """No batch axis (inputs/data.py: whole_feeds): each stored sample is a whole input set, run alone; outputs stacked."""
    per_call = [_run_intermediate(artifact, feed) for feed in parts(inputs, True, 1)]
    return None if per_call[0] is None else join_outputs(per_call, True)


def check_steps(path: list[str], steps: list[dict], cache_root: Path, inputs: dict[str, np.ndarray],
                reference: list[np.ndarray], tolerance) -> None:
    """Add an "equivalence" entry to each intermediate step record (in place)."""
    for step, step_dir in list(zip(steps, step_dirs(steps, cache_root)))[:-1]:
        record = step_dir / "artifact.json"
        if "equivalence" in step or not record.exists():
            continue
        artifact = Artifact.from_dict(json.loads(record.read_text())["artifact"])
        step["equivalence"] = check_artifact(artifact, inputs, reference, tolerance)


def check_artifact(artifact: Artifact, inputs: dict[str, np.ndarray], reference: list[np.ndarray], tolerance) -> dict:
    """One intermediate artifact against the reference, on the first eval samples: {checked, agrees, ...}."""
    from edgepick.measure.equivalence import compare

    whole = getattr(inputs, "whole_feeds", False)
    total = len(next(iter(inputs.values())))
    n = min(MAX_WHOLE_SAMPLES if whole else MAX_SAMPLES, total)
    if n < total and any(np.shape(r)[:1] != (total,) for r in reference):
        n = total  # an output whose axis 0 is not the samples (a sequence model's [T, 1, C]) cannot be cut: all of them
    part = {k: np.ascontiguousarray(v[:n]) for k, v in inputs.items()}
    try:
        outputs = _run_whole(artifact, part) if whole else _run_intermediate(artifact, part)
    except Exception as e:  # the step's artifact does not even run: that is the answer
        return {"checked": True, "agrees": False, "runs": False, "why": f"{type(e).__name__}: {str(e)[:200]}"}
    if outputs is None:
        return {"checked": False, "why": f"no in-process runner for {artifact.format}"}
    eq = compare(reference if n == total else [r[:n] for r in reference], outputs, tolerance)
    return {"checked": True, "agrees": bool(eq["agrees"]), "max_abs_err": eq.get("max_abs_err"), "samples": n,
            **({} if eq["agrees"] else {"why": eq.get("why")})}


def step_dirs(steps: list[dict], cache_root: Path) -> list[Path]:
    """Each step's cache folder. A converter step's is the path up to it; an inserted onnxslim step (convert/static.py)
    sits beside the converter it made retry, named after the path before that converter plus "onnxslim"."""
    names, dirs = [], []
    for step in steps:
        if "simplified" in step:
            dirs.append(cache_root / "+".join([*names, step["converter"]]))
        else:
            names.append(step["converter"])
            dirs.append(cache_root / "+".join(names))
    return dirs


def blame(steps: list[dict]) -> str:
    """For a disagreeing row: which step broke the outputs, as far as the intermediate checks can tell."""
    if not steps:
        return " (no conversion: the runtime itself computes differently)"
    for step in steps[:-1]:
        eq = step.get("equivalence") or {}
        if eq.get("checked") and not eq.get("agrees"):
            return f" (already wrong after step {step['converter']})"
    checked = [s["converter"] for s in steps[:-1] if (s.get("equivalence") or {}).get("checked")]
    if checked:
        return f" (equivalent after {checked[-1]}; broken by {steps[-1]['converter']} or the runtime)"
    return f" (broken by {steps[-1]['converter']} or the runtime)" if len(steps) == 1 else ""
