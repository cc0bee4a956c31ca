"""Per-step equivalence along a conversion path, so a row says *which step* broke the outputs.

The final artifact is compared by the sweep from the worker's outputs. Intermediate artifacts (e.g. the ONNX file
on torch -> onnx -> ncnn) are run here, in-process, on a slice of the eval inputs when a light in-process runner
exists for their format (ONNX Runtime for onnx, TorchScript for torchscript); other formats are marked unchecked.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgepick.artifact import Artifact
from edgepick.data import Feeds, join_outputs, parts

MAX_SAMPLES = 32  # enough to catch a broken step; cheap even for 224x224 inputs


def _run_intermediate(artifact: Artifact, inputs: dict[str, np.ndarray]) -> list[np.ndarray] | None:
    # A model without a batch axis (data.py: whole_feeds) runs its input sets one call each, outputs stacked.
    whole = getattr(inputs, "whole_feeds", False)
    calls = list(parts(inputs, whole, len(next(iter(inputs.values())))))
    if artifact.format == "onnx":
        from edgepick.runtimes.onnxruntime import OnnxRuntime

        if not OnnxRuntime.is_available():
            return None
        session = OnnxRuntime().load(artifact, 1)
        names = [i.name for i in session.session.get_inputs()]
        return join_outputs([session.to_numpy(session.run({n: c[k] for n, k in zip(names, c)})) for c in calls], whole)
    if artifact.format == "torchscript":
        import torch

        module = torch.jit.load(artifact.path, map_location="cpu")
        outs = []
        with torch.inference_mode():
            for c in calls:
                got = module(*(torch.from_numpy(np.asarray(v, order="C")) for v in c.values()))
                outs.append([g.numpy() for g in ((got,) if isinstance(got, torch.Tensor) else tuple(got))])
        return join_outputs(outs, whole)
    return None


def check_steps(path: list[str], steps: list[dict], cache_root: Path, inputs: dict[str, np.ndarray],
                reference: list[np.ndarray], tolerance) -> None:
    """Add an "equivalence" entry to each intermediate step record (in place)."""
    from edgepick.measure.equivalence import compare

    n = min(MAX_SAMPLES, len(next(iter(inputs.values()))))
    part = Feeds({k: np.asarray(v[:n], order="C") for k, v in inputs.items()})
    part.whole_feeds = getattr(inputs, "whole_feeds", False)
    ref = [r[:n] for r in reference]
    for i, step in enumerate(steps[:-1]):
        record = cache_root / "+".join(path[: i + 1]) / "artifact.json"
        if "equivalence" in step or not record.exists():
            continue
        artifact = Artifact.from_dict(json.loads(record.read_text())["artifact"])
        try:
            outputs = _run_intermediate(artifact, part)
        except Exception as e:  # the step's artifact does not even run: that is the answer
            step["equivalence"] = {"checked": True, "agrees": False, "why": f"{type(e).__name__}: {str(e)[:200]}"}
            continue
        if outputs is None:
            step["equivalence"] = {"checked": False, "why": f"no in-process runner for {artifact.format}"}
            continue
        eq = compare(ref, outputs, tolerance)
        step["equivalence"] = {"checked": True, "agrees": bool(eq["agrees"]), "max_abs_err": eq.get("max_abs_err"),
                               "samples": n, **({} if eq["agrees"] else {"why": eq.get("why")})}


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
