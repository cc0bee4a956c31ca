"""The Converter contract: one edge of the conversion graph, from one of `sources` to `target`."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature


@dataclass
class ConvertContext:
    signature: Signature  # input names, shapes, dtypes; which dims are dynamic
    out_dir: Path
    module: Any = None  # the in-memory nn.Module the reference ran, for torch sources: convert exactly that one
    samples: dict | None = None  # eval inputs by name as the model takes them, for converters that run the model while
    # converting (onnx2tf); None: they use the signature's deterministic synthetic inputs

    def sample_inputs(self) -> dict:
        return self.samples if self.samples is not None else self.signature.example_inputs(1)


class Converter:
    name: ClassVar[str]
    sources: ClassVar[tuple[str, ...]]
    target: ClassVar[str]
    import_name: ClassVar[str]
    distribution: ClassVar[str]
    extra: ClassVar[str]
    # Roughly how long a run takes (seconds on the digits CNN, project VM, 2026-12-07): only orders the conversions
    # run ahead so the longest start first (sweep/search.py), never a timeout or a figure anyone reads.
    typical_s: ClassVar[float] = 2.0

    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec(cls.import_name) is not None

    @classmethod
    def install_hint(cls) -> str:
        return f"pip install 'edgepick[{cls.extra}]'  (or: pip install {cls.distribution})"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        raise NotImplementedError


def last_json_line(stdout: str) -> dict:
    """The last line of a converter subprocess's stdout that parses as JSON (its reply; libraries print before it)."""
    import json

    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return {}
