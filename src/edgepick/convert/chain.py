"""Follow a conversion path, step by step, caching each step's artifact by the model's content hash."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import time
from pathlib import Path

from edgepick import errors
from edgepick.artifact import Artifact
from edgepick.convert.base import ConvertContext
from edgepick.registry import CONVERTERS


def convert_along(path: list[str], source: Artifact, signature, cache_root: Path, module=None) -> tuple[Artifact, list[dict]]:
    """Return (final artifact, one record per step: converter, seconds, cached). Raises CandidateFailure."""
    artifact, steps = source, []
    for i, name in enumerate(path):
        step_dir = cache_root / "+".join(path[: i + 1])
        with _step_lock(step_dir):  # another sweep of the same model may be converting this very step
            artifact = _convert_step(path, i, name, step_dir, artifact, signature, module, steps)
    return artifact, steps


def _step_lock(step_dir: Path):
    """An inter-process lock per cached step: a second sweep waits, then reuses the step instead of deleting it."""
    from filelock import FileLock

    return FileLock(str(step_dir) + ".lock")


def _convert_step(path, i, name, step_dir: Path, artifact: Artifact, signature, module, steps: list) -> Artifact:
    if True:  # the former loop body, at its old indentation so parallel edits to it merge; now under _step_lock
        record_file = step_dir / "artifact.json"
        if record_file.exists():
            record = json.loads(record_file.read_text())
            artifact = Artifact.from_dict(record["artifact"])
            steps.append({"converter": name, "seconds": record["seconds"], "cached": True})
            return artifact
        conv = CONVERTERS.get(name)
        if not conv.is_available():
            raise errors.CandidateFailure(errors.NOT_INSTALLED, f"converter {name} needs {conv.distribution}: {conv.install_hint()}")
        if step_dir.exists():
            shutil.rmtree(step_dir)  # a half-written step from a killed sweep
        step_dir.mkdir(parents=True)
        t0 = time.perf_counter()
        try:
            # stdout belongs to `run --json`; converters that print progress (litert-torch does) go to stderr.
            with contextlib.redirect_stdout(sys.stderr):
                artifact = conv().convert(artifact, ConvertContext(signature, step_dir, module if i == 0 else None))
        except Exception as e:
            text = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise errors.CandidateFailure(errors.CONVERSION_ERROR, f"{name} failed: {type(e).__name__}: {text}") from e
        seconds = time.perf_counter() - t0
        record_file.write_text(json.dumps({"artifact": artifact.to_dict(), "seconds": seconds}))
        steps.append({"converter": name, "seconds": seconds, "cached": False})
        return artifact
