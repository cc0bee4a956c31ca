"""A conversion already made and checked, found again without a worker (issue 23: a second run reuses every one).

Each converted artifact is cached by content already (convert/chain.py), but finding it took a capped worker per
path: the worker imports its converter's framework (PyTorch, TensorFlow: 1-6 s) to look up the step and checks the
step's outputs against the reference again. On a warm run that was the whole conversion phase, 8 s of face-detection-
short's 74 s. What the worker answered (the artifact and the steps with their equivalence verdicts) depends only on
the model's content, the conversion path, the signature, the eval inputs, the reference outputs, the tolerance and
the code and packages that made it, so it is kept under that key beside the artifacts and read back in the parent:
the worker runs only when the key, or a file the artifact needs, is missing. The record is edgepick's own JSON under
the home (never a user's file); paths outside the artifacts' folder are refused. Only successes are kept: a failure
may have been a timeout or the memory cap, and is tried again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from edgepick.core.artifact import file_sha256
from edgepick.core.fingerprint import versions
from edgepick.core.version import __version__


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:  # size and mtime: a rewritten file is read again
    return file_sha256(path)


def _sha(path: Path) -> str:
    stat = path.stat()
    return _file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _versions() -> str:
    """The code that converts: edgepick, the main environment's converter packages, each converter venv's pins."""
    from importlib import metadata

    from edgepick.core import envs
    from edgepick.core.registry import CONVERTERS

    found = {"edgepick": __version__, **versions()}
    for name in CONVERTERS.names():
        dist = getattr(CONVERTERS.get(name), "distribution", None)
        if dist and dist not in found:
            try:
                found[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                found[dist] = None
    found["envs"] = {name: envs.marker(name) for name in envs.ENVS}
    return json.dumps(found, sort_keys=True, default=str)


def record_path(job: dict, artifacts_root: Path, model_hash: str) -> Path | None:
    """Where the record of this conversion job lives (None when an input file is missing)."""
    try:
        key = {"path": job["path"], "model": model_hash, "signature": job["signature"], "tolerance": job["tolerance"],
               "inputs": _sha(Path(job["inputs"])), "reference": _sha(Path(job["reference"])), "code": _versions()}
    except OSError:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return artifacts_root / "checked" / f"{digest}.json"


def lookup(record: Path | None, artifacts_root: Path) -> dict | None:
    """The worker's earlier answer {"status": "ok", "artifact", "steps"}, every step marked cached, or None."""
    if record is None or not record.is_file():
        return None
    try:
        found = json.loads(record.read_text())
        artifact = found["artifact"]
        files = [artifact["path"], *artifact.get("meta", {}).get("extra_files", [])]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    root = os.path.realpath(artifacts_root)
    for name in files:
        real = os.path.realpath(name)
        if os.path.commonpath([root, real]) != root or not os.path.exists(real):
            return None
    return {"status": "ok", "artifact": artifact, "steps": [dict(step, cached=True) for step in found["steps"]]}


def keep(record: Path | None, artifact: dict, steps: list[dict]) -> None:
    """Keep a successful answer; written whole or not at all (a second sweep may read it at the same time)."""
    if record is None:
        return
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"artifact": artifact, "steps": steps}))
    os.replace(tmp, record)
