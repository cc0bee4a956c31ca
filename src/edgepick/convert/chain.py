"""Follow a conversion path, step by step, caching each step's artifact by the model's content hash."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edgepick.convert import static
from edgepick.convert.base import ConvertContext
from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.core.registry import CONVERTERS


def convert_along(path: list[str], source: Artifact, signature, cache_root: Path, module=None,
                  check=None, samples: dict | None = None) -> tuple[Artifact, list[dict]]:
    """Return (final artifact, one record per step: converter, seconds, cached). Raises CandidateFailure.
    `check(artifact)` checks a preparation step (the simplified graph a failed step retries on) before use;
    `samples`: the eval inputs, for converters that run the model while converting (onnx2tf)."""
    artifact, steps = source, []
    for i, name in enumerate(path):
        step_dir = cache_root / "+".join(path[: i + 1])
        with _step_lock(step_dir):  # another sweep of the same model may be converting this very step
            artifact = _convert_step(path, i, name, step_dir, artifact, signature, module, steps, cache_root, check,
                                     samples)
    return artifact, steps


def _step_lock(step_dir: Path):
    """An inter-process lock per cached step: a second sweep waits, then reuses the step instead of deleting it."""
    from filelock import FileLock

    return FileLock(str(step_dir) + ".lock")


def _convert_step(path, i, name, step_dir: Path, artifact: Artifact, signature, module, steps: list,
                  cache_root: Path, check=None, samples: dict | None = None) -> Artifact:
    """One step, under its lock: reuse the cached artifact, or convert (retrying once on a simplified ONNX graph)."""
    record_file = step_dir / "artifact.json"
    if record_file.exists():
        record = json.loads(record_file.read_text())
        artifact = Artifact.from_dict(record["artifact"])
        if record.get("simplified_step"):  # this step ran on the onnxslim-simplified graph
            steps.append({**record["simplified_step"], "cached": True})
        steps.append({"converter": name, "seconds": record["seconds"], "cached": True, **_note(artifact)})
        return artifact
    conv = CONVERTERS.get(name)
    if not conv.is_available():
        raise errors.CandidateFailure(errors.NOT_INSTALLED, f"converter {name} needs {conv.distribution}: {conv.install_hint()}")
    if step_dir.exists():
        shutil.rmtree(step_dir)  # a half-written step from a killed sweep
    step_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    try:
        artifact_in, simplified = artifact, None
        artifact = _run_step(conv, artifact, ConvertContext(signature, step_dir, module if i == 0 else None, samples))
    except Exception as e:
        if isinstance(e, errors.CandidateFailure):  # already classified (e.g. a converter's env is missing)
            raise
        if artifact_in.format != "onnx" or isinstance(e, subprocess.TimeoutExpired):
            raise errors.CandidateFailure(errors.CONVERSION_ERROR, f"{name} failed: {static.describe(e)}") from e
        # Once more on the graph with its shape subgraphs folded (convert/static.py), before giving up.
        artifact, simplified = _retry_simplified(name, conv, artifact_in, e, signature, cache_root, path[:i], step_dir,
                                                 check, samples)
        steps.append(simplified)
    seconds = time.perf_counter() - t0 - (simplified or {}).get("seconds", 0.0)
    record = {"artifact": artifact.to_dict(), "seconds": seconds}
    if simplified:
        record["simplified_step"] = {k: v for k, v in simplified.items() if k != "cached"}
    record_file.write_text(json.dumps(record))
    steps.append({"converter": name, "seconds": seconds, "cached": False, **_note(artifact)})
    return artifact


def _note(artifact: Artifact) -> dict:
    """What a converter says about its output that the row should show (e.g. the source .tflite was sparse)."""
    return {"note": artifact.meta["note"]} if artifact.meta.get("note") else {}


def _run_step(conv, artifact: Artifact, ctx: ConvertContext) -> Artifact:
    # stdout belongs to `run --json`; converters that print progress (litert-torch does) go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        return conv().convert(artifact, ctx)


def _retry_simplified(name, conv, artifact: Artifact, first: Exception, signature, cache_root: Path, before: list[str],
                      step_dir: Path, check=None, samples: dict | None = None) -> tuple[Artifact, dict]:
    """Run the failed step again on the onnxslim-simplified graph; a second failure reports the first (root) error.
    A simplified graph that no longer computes the model stops here, named as the cause (a DISAGREES failure)."""
    root = f"{name} failed: {static.describe(first)}"
    try:
        simple, step = static.simplified_step(artifact, signature, static.step_dir_for(cache_root, before), root, check)
    except errors.CandidateFailure as e:
        if e.reason_class == errors.DISAGREES:
            raise
        raise errors.CandidateFailure(errors.CONVERSION_ERROR, f"{root} (no retry on a simplified graph: {e.message})") from first
    shutil.rmtree(step_dir)
    step_dir.mkdir(parents=True)
    try:
        return _run_step(conv, simple, ConvertContext(signature, step_dir, None, samples)), step
    except Exception as e:
        raise errors.CandidateFailure(errors.CONVERSION_ERROR,
                                      f"{root} (again on the {static.STEP}-simplified graph: {static.describe(e)})") from e
