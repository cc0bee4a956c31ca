"""The Runtime contract.

A runtime names the artifact formats it loads, and `load(artifact, threads)` gives a Session. The timed call is
`Session.run(prepared)`: inputs are converted to the runtime's native objects by `prepare` *before* the clock starts
and outputs are turned into numpy by `to_numpy` *after* it stops, so every runtime is timed at the same boundary:
its own run call on prepared inputs.
"""

from __future__ import annotations

import importlib.util
from importlib import metadata
from typing import Any, ClassVar

import numpy as np

from edgepick.core.artifact import Artifact


def run_precision(artifact: Artifact) -> str:
    """The precision the row asks this runtime to compute in ("fp32", "bf16", "fp16"); set by the worker from the job."""
    return artifact.meta.get("run_precision") or "fp32"


def measured_shapes(artifact: Artifact) -> dict[str, list[int]]:
    """{input name: the exact shape it will be fed, batch included}; set by the worker from the eval inputs."""
    return dict(artifact.meta.get("measured_shapes") or {})


def shapes_by_name(names: list[str], shapes: dict[str, list[int]]) -> dict[str, list[int]]:
    """Match the runtime's input names to the measured shapes: by name, else by position when the counts agree
    (converters sometimes rename inputs)."""
    if all(n in shapes for n in names):
        return {n: shapes[n] for n in names}
    if len(names) == len(shapes):
        return dict(zip(names, shapes.values()))
    return {n: shapes[n] for n in names if n in shapes}


class Session:
    details: dict | None = None  # what the runtime reported at load (precision used, compiled shapes, ...): in the row

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        raise NotImplementedError

    def run(self, prepared: Any) -> Any:
        raise NotImplementedError

    def to_numpy(self, outputs: Any) -> list[np.ndarray]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class Runtime:
    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]  # artifact formats it loads, the preferred one first
    import_name: ClassVar[str]  # the Python module whose presence means the runtime is installed
    distribution: ClassVar[str]  # the PyPI distribution, for its version and the install hint
    extra: ClassVar[str]  # `pip install edgepick[<extra>]`
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    thread_setting: ClassVar[str]  # the runtime's own knob that --threads sets, shown in `edgepick runtimes`
    description: ClassVar[str] = ""
    env: ClassVar[str | None] = None  # a venv of core/envs.py whose python runs this runtime's worker (None: this python)

    @staticmethod
    def worker_env(threads: int) -> dict[str, str]:
        """Environment variables the worker process must start with (thread counts a framework reads at import)."""
        return {}

    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec(cls.import_name) is not None

    @classmethod
    def install_hint(cls) -> str:
        return f"pip install 'edgepick[{cls.extra}]'  (or: pip install {cls.distribution})"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when usable here; otherwise one line saying why and what to do (the planner records it as a row)."""
        return None if cls.is_available() else f"{cls.distribution} is not installed: {cls.install_hint()}"

    @classmethod
    def capabilities(cls) -> dict | None:
        """Where this runtime can deploy (OS, CPU, accelerators, ...), each cell with its source: plan/capabilities.json."""
        from edgepick.plan.capabilities import entry

        return entry(cls.name)

    @classmethod
    def version(cls) -> str | None:
        try:
            return metadata.version(cls.distribution)
        except metadata.PackageNotFoundError:
            return None

    def import_framework(self) -> None:
        """Import the framework; timed separately from loading the model."""
        importlib.import_module(self.import_name)

    def load(self, artifact: Artifact, threads: int) -> Session:
        raise NotImplementedError
