"""The Compressor contract: one pass that turns an artifact into a smaller/faster one, measured like any candidate.

A compressor reads one artifact format and writes one (often the same). `choices(label)` expands what the user
asked for (e.g. "int8-static") into concrete configurations (e.g. "int8-static-minmax", "int8-static-entropy"),
each of which becomes its own candidate with its own key. `apply` does the work; the caller caches the result.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature


@dataclass
class CompressContext:
    signature: Signature
    out_dir: Path
    options: dict  # this configuration's options, from choices()
    eval_inputs: dict | None = None  # the eval inputs (validation inside loops such as pruning)
    eval_labels: Any = None
    reference: list | None = None  # the FP32 reference outputs on eval_inputs
    metric: Any = None  # compress.metrics.Metric
    tolerance: Any = None  # compress.metrics.DropTolerance
    train: tuple | None = None  # (x, y) training data for fine-tuning / distillation, when given
    threads: int = 1
    record: dict = field(default_factory=dict)  # what the pass wants reported in the row (params, MACs, notes)


class Compressor:
    name: ClassVar[str]  # the registry name
    family: ClassVar[str]  # what --compress names: "fp16", "int8-dynamic", "int8-static", "prune", ...
    input_formats: ClassVar[tuple[str, ...]]  # what it reads; the planner converts the model to the nearest
    output_format: ClassVar[str]
    runtimes: ClassVar[tuple[str, ...] | None] = None  # runtimes its output is meant for; None = any that loads it
    precision: ClassVar[str] = "fp32"
    import_name: ClassVar[str]
    distribution: ClassVar[str]
    extra: ClassVar[str]
    options: ClassVar[dict[str, str]] = {}  # declared options -> what each means (shown by `edgepick compressors`)
    needs_calibration: ClassVar[bool] = False
    description: ClassVar[str] = ""

    @classmethod
    def is_available(cls) -> bool:
        return all(importlib.util.find_spec(m) is not None for m in cls.import_name.split(","))

    @classmethod
    def install_hint(cls) -> str:
        return f"pip install 'edgepick[{cls.extra}]'  (or: pip install {cls.distribution})"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        """Concrete (label, options) configurations for what the user named; the default: one, no options."""
        return [(cls.family, {})]

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        raise NotImplementedError
