"""Site overlays: a runtime whose pins clash with the main environment gets a private site directory.

Apache TVM's FFI needs typing_extensions>=4.13 while litert-torch's xdsl pins it below 4.13, so both cannot
share one environment. Instead of a whole venv, `edgepick doctor --fix` installs the few clashing packages into
$EDGEPICK_HOME/overlays/<runtime>/, and only that runtime's processes (its worker, its converter subprocess) put
the directory first on sys.path. Nothing else in the main environment changes.

The other way edgepick isolates dependencies is a whole venv per runtime (core/envs.py, `edgepick env create`), for
a runtime that needs another numpy or TensorFlow altogether (MXNet, onnx2tf); an overlay is for a few packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
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


# probe_import's answers, by (module, runtime), and a lock per key: a caller that arrives while the probe runs
# (plan() while plan/planner.prefetch()'s background call is still importing) waits for that one answer instead of
# starting a second interpreter (functools.cache would run both). `_guard` covers the dicts and the generation,
# which cache_clear() moves on so a probe started before it does not store its (now stale) answer.
_answers: dict[tuple[str, str], str | None] = {}
_key_locks: dict[tuple[str, str], threading.Lock] = {}
_guard = threading.Lock()
_generation = [0]
PROBE_TIMEOUT_S = 120

# The probe's interpreter is tied to this process first, like the workers (worker/child.py; runtimes/ cannot import
# it): PR_SET_PDEATHSIG has the kernel SIGKILL it if edgepick dies (a probe in a background thread included). Only
# stdlib modules, set before `import {module}`, so the import it probes is the same; its stderr's last line too.
_TIE_TO_PARENT = ("import ctypes, os, signal\n"
                  "try:\n    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)\n"
                  "except (OSError, AttributeError):\n    pass\n"
                  "else:\n    os.getppid() == {parent} or os._exit(1)\n")


def probe_import(module: str, runtime: str) -> str | None:
    """Import `module` in a fresh interpreter (with the overlay when present): None if it works, else the error line.

    Once per (module, runtime) and process, whichever thread asks first. A probe that raised is not kept (like
    functools.cache): its own caller gets the exception, and whoever was waiting for it probes again."""
    key = (module, runtime)
    with _guard:
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        with _guard:
            if key in _answers:
                return _answers[key]
            generation = _generation[0]
        answer = _probe(module, runtime)
        with _guard:
            if generation == _generation[0]:
                _answers[key] = answer
        return answer


def _cache_clear() -> None:
    """Forget every answer (an overlay was just installed); a probe still running keeps its answer to itself."""
    with _guard:
        _answers.clear()
        _generation[0] += 1


probe_import.cache_clear = _cache_clear


def _probe(module: str, runtime: str) -> str | None:
    code = f"import {module}"
    program = _TIE_TO_PARENT.format(parent=os.getpid()) + code
    try:
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              env=env_for(runtime))
    except subprocess.TimeoutExpired:
        return f"`{code}` took over {PROBE_TIMEOUT_S} s"
    if done.returncode == 0:
        return None
    lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else f"`{code}` exited with {done.returncode}"
