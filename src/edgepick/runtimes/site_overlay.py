"""Site overlays: a runtime whose pins clash with the main environment gets a private site directory.

Apache TVM's FFI needs typing_extensions>=4.13 while litert-torch's xdsl pins it below 4.13, so both cannot
share one environment. Instead of a whole venv, `edgepick doctor --fix` installs the few clashing packages into
$EDGEPICK_HOME/overlays/<runtime>/, and only that runtime's processes (its worker, its converter subprocess) put
the directory first on sys.path. Nothing else in the main environment changes.

The other way edgepick isolates dependencies is a whole venv per runtime (core/envs.py, `edgepick env create`), for
a runtime that needs another numpy or TensorFlow altogether (MXNet, onnx2tf); an overlay is for a few packages.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

from edgepick.core import paths


def overlay_dir(runtime: str) -> Path:
    return paths.home() / "overlays" / runtime


def install_command(runtime: str, requirements: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "--quiet", "--upgrade", "--no-deps", "--target",
            str(overlay_dir(runtime)), *requirements]


def create(runtime: str, requirements: tuple[str, ...]) -> str:
    """Install the overlay; returns pip's output tail. Raises CalledProcessError on failure."""
    done = subprocess.run(install_command(runtime, requirements), capture_output=True, text=True, check=True)
    probe_import.cache_clear()
    return (done.stdout + done.stderr).strip()[-400:]


def activate(runtime: str) -> None:
    """Put the overlay first on sys.path in this process, replacing any already-imported copy of its modules."""
    path = overlay_dir(runtime)
    if not path.is_dir():
        return
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    for entry in path.iterdir():
        name = entry.stem if entry.suffix == ".py" else entry.name
        if name in sys.modules and not name.endswith("-info"):
            del sys.modules[name]  # the old copy stays bound where it was imported; new imports get the overlay's


def env_for(runtime: str) -> dict:
    path = overlay_dir(runtime)
    env = dict(os.environ)
    if path.is_dir():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(path), env.get("PYTHONPATH")) if p)
    return env


@functools.cache
def probe_import(module: str, runtime: str) -> str | None:
    """Import `module` in a fresh interpreter (with the overlay when present): None if it works, else the error line."""
    code = f"import {module}"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env_for(runtime))
    except subprocess.TimeoutExpired:
        return f"`{code}` took over 120 s"
    if done.returncode == 0:
        return None
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else f"`{code}` exited with {done.returncode}"
