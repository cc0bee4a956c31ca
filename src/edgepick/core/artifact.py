"""An Artifact is a model in one format on disk (or, for a factory, a spec the worker imports)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Artifact:
    format: str  # a node of the conversion graph, e.g. "onnx", "openvino-ir", "torch-factory"
    path: str  # a file, or "module:callable" for torch-factory
    meta: dict = field(default_factory=dict)  # e.g. {"sys_path": ...} or {"exporter": "dynamo"}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Artifact:
        return cls(**d)

    def size_bytes(self) -> int | None:
        """Bytes on disk: the file plus its siblings for multi-file formats (IR .xml+.bin, ONNX external data)."""
        if self.format == "torch-factory":
            return self.meta.get("weights_bytes")
        p = Path(self.path)
        if not p.exists():
            return None
        files = [p] + [Path(f) for f in self.meta.get("extra_files", [])]
        return sum(f.stat().st_size for f in files if f.exists())


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
