"""Per-runtime virtual environments, for runtimes whose dependencies conflict with the main environment.

MXNet 1.9.1 needs numpy < 2 (1.23.5 is the release it was built and tested against), while the main environment runs
numpy 2; onnx2tf pins an older TensorFlow, onnx and numpy. Such a plugin names an `env`; `edgepick env create NAME`
builds that venv once, and the launcher then starts the plugin's worker with the venv's python. The worker protocol is
unchanged (job JSON in, result JSON + outputs .npz out).

Where: $EDGEPICK_ENVS, else $XDG_CACHE_HOME/edgepick/envs, else ~/.cache/edgepick/envs. Not under $EDGEPICK_HOME: that
defaults to ./.edgepick, one per working directory, and a venv of a few hundred MB is worth building once per user.

How the env's worker imports edgepick: not by installing it there (a copy would go stale as edgepick changes, and its
metadata asks for numpy >= 1.24), but through a folder holding one symlink, `edgepick` -> the package this process runs,
put on PYTHONPATH. The worker path (worker/measure.py, registry, data, runtimes/base) needs only numpy, which the env has.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edgepick.core import errors

MARKER = "edgepick-env.json"


@dataclass(frozen=True)
class EnvSpec:
    name: str
    packages: tuple[str, ...]  # exact pins: the set that was verified to install and work here
    check: str  # Python run inside the env after install; prints one line of versions, fails if the env is unusable
    why: str  # why this runtime cannot live in the main environment


ENVS: dict[str, EnvSpec] = {
    "mxnet": EnvSpec(
        "mxnet",
        ("mxnet==1.9.1", "numpy==1.23.5", "onnx==1.14.1"),
        "import mxnet, numpy, onnx; from mxnet.contrib import onnx as bridge; "
        "print(f'mxnet {mxnet.__version__}, numpy {numpy.__version__}, onnx {onnx.__version__}')",
        "MXNet 1.9.1 is built against numpy < 2 (pinned 1.23.5); the main environment runs numpy 2",
    ),
    "onnx2tf": EnvSpec(
        "onnx2tf",
        # onnx2tf pins every dependency exactly itself (tensorflow 2.19.0, numpy 1.26.4, ...); onnx2keras (ONNX ->
        # Keras 3, convert/onnx_to_keras.py) requires the `tensorflow` distribution, which this env has.
        ("onnx2tf==1.29.24", "onnx2keras==0.0.25"),
        "import onnx2tf, onnx2keras, tensorflow, keras, numpy; print(f'onnx2tf {onnx2tf.__version__}, tensorflow "
        "{tensorflow.__version__}, keras {keras.__version__}, numpy {numpy.__version__}')",
        "onnx2tf pins tensorflow 2.19, onnx 1.19, numpy 1.26 and protobuf 4; installing it would downgrade the main "
        "environment's numpy, onnx, onnxruntime and tensorflow (and onnx2keras requires `tensorflow`, not "
        "`tensorflow-cpu`)",
    ),
    "litert-torch": EnvSpec(
        "litert-torch",
        # the same torch as the main environment, so a torch.export program saved there loads here
        ("torch==2.13.0", "litert-torch==0.10.0"),
        "import torch, litert_torch, numpy; from importlib.metadata import version; print(f'torch {torch.__version__}, "
        "litert-torch {version(\"litert-torch\")}, numpy {numpy.__version__}')",
        "litert-torch pins typing_extensions 4.12 and pydantic 2.11, older than the main environment runs (typer, "
        "FastAPI); installing it here would downgrade them",
    ),
}


def root() -> Path:
    if os.environ.get("EDGEPICK_ENVS"):
        return Path(os.environ["EDGEPICK_ENVS"]).absolute()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "edgepick" / "envs"


def spec_of(name: str) -> EnvSpec:
    if name not in ENVS:
        raise errors.UserError(f"unknown environment '{name}'; known: {', '.join(ENVS)} (see `edgepick env list`)")
    return ENVS[name]


def env_dir(name: str) -> Path:
    return root() / name


def python_of(name: str) -> Path:
    return env_dir(name) / "bin" / "python"


def marker(name: str) -> dict | None:
    """The record written after a verified install; None if the env is absent, half-built or for other pins."""
    path = env_dir(name) / MARKER
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if tuple(record.get("packages", ())) != spec_of(name).packages or not python_of(name).exists():
        return None
    return record


def is_ready(name: str) -> bool:
    return marker(name) is not None


def unavailable_reason(name: str) -> str | None:
    if is_ready(name):
        return None
    spec = spec_of(name)
    failed = env_dir(name) / "create-failed.txt"
    if failed.exists():
        return f"its environment could not be built here: {failed.read_text().strip()}"
    return f"runs in its own environment ({spec.why}); create it once with: edgepick env create {name}"


def create(name: str, force: bool = False, log=print) -> dict:
    """Build the venv, install the pinned packages, run the check; return the marker record. Raises UserError."""
    spec = spec_of(name)
    target = env_dir(name)
    if is_ready(name) and not force:
        return marker(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    (target / "create-failed.txt").unlink(missing_ok=True)
    t0 = time.perf_counter()
    log(f"creating {target} with {sys.executable} -m venv")
    _step([sys.executable, "-m", "venv", "--clear", str(target)], target, "python -m venv")
    log(f"installing {' '.join(spec.packages)}")
    _step([str(python_of(name)), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *spec.packages],
          target, "pip install")
    check = _step([str(python_of(name)), "-c", spec.check], target, "the import check").strip().splitlines()[-1]
    record = {"name": name, "packages": list(spec.packages), "python": _python_version(name), "check": check,
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(time.perf_counter() - t0, 1)}
    (target / MARKER).write_text(json.dumps(record, indent=2))
    return record


def _step(cmd: list[str], target: Path, what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "create.log", "a") as f:
        f.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip() and "is ignored" not in ln]
        errs = [ln for ln in lines if ln.startswith("ERROR")] or lines[-1:]
        reason = f"{what} failed for Python {sys.version_info.major}.{sys.version_info.minor}: {' '.join(errs)[:400]}"
        (target / "create-failed.txt").write_text(reason + "\n")
        raise errors.UserError(f"{reason} (full log: {target / 'create.log'})")
    return proc.stdout


def _python_version(name: str) -> str:
    out = subprocess.run([str(python_of(name)), "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True)
    return out.stdout.strip()


def listing() -> list[dict]:
    """One row per known env: state, where, what it pins, and which registered plugins use it."""
    from edgepick.core.registry import CONVERTERS, RUNTIMES

    users: dict[str, list[str]] = {}
    for kind, registry in (("runtime", RUNTIMES), ("converter", CONVERTERS)):
        for plugin_name in registry.names():
            try:
                env = getattr(registry.get(plugin_name), "env", None)
            except Exception:  # a broken third-party plugin must not hide the envs
                continue
            if env:
                users.setdefault(env, []).append(f"{kind} {plugin_name}")
    rows = []
    for name, spec in ENVS.items():
        record = marker(name)
        failed = env_dir(name) / "create-failed.txt"
        state = "ready" if record else ("failed" if failed.exists() else "absent")
        rows.append({"name": name, "state": state, "path": str(env_dir(name)), "packages": list(spec.packages),
                     "check": record["check"] if record else (failed.read_text().strip() if failed.exists() else ""),
                     "used_by": users.get(name, []), "why": spec.why})
    return rows


def source_link() -> Path:
    """A folder whose only entry is a symlink `edgepick` -> this edgepick package, for the env's PYTHONPATH."""
    package = Path(__file__).resolve().parents[1]  # core/ -> the edgepick package
    folder = root() / "src" / hashlib.sha256(str(package).encode()).hexdigest()[:16]
    link = folder / "edgepick"
    if not link.is_symlink() or link.resolve() != package:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".edgepick.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(package, target_is_directory=True)
        os.replace(tmp, link)
    return folder


def interpreter_for(env: str | None) -> tuple[str, dict[str, str]]:
    """(python executable, environment overrides) for a plugin that names `env`; this python when it names none."""
    if not env:
        return sys.executable, {}
    reason = unavailable_reason(env)
    if reason:
        raise errors.CandidateFailure(errors.NOT_INSTALLED, reason)
    # PYTHONNOUSERSITE: nothing from ~/.local may shadow the env's pinned packages (numpy above all).
    return str(python_of(env)), {"PYTHONPATH": str(source_link()), "PYTHONNOUSERSITE": "1"}


def tied(cmd: list[str]) -> list[str]:
    """`cmd` started so that the kernel kills it when this process dies (worker/child.py --exec: PR_SET_PDEATHSIG,
    kept across exec). A worker that is killed takes its converter's tool with it instead of leaving an orphan that
    runs on for minutes."""
    return [sys.executable, "-m", "edgepick.worker.child", str(os.getpid()), "--exec", *cmd]


def worker_launch(job: dict) -> tuple[str, dict[str, str]]:
    """What the launcher needs to start this job's worker: the interpreter, plus the runtime's own env variables
    (thread counts some frameworks read only at import, before Runtime.load could set them)."""
    from edgepick.core.registry import RUNTIMES

    runtime = RUNTIMES.get(job["runtime"])
    python, overrides = interpreter_for(getattr(runtime, "env", None))
    worker_env = getattr(runtime, "worker_env", None)
    if worker_env is not None:
        overrides.update(worker_env(int(job.get("threads", 1))))
    return python, overrides
