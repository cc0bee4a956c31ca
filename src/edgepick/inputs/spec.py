"""ModelSpec: one loaded model (what the user gave, its signature, content hash), the value every input loader
returns. Its own module so the loaders (inputs/model.py, inputs/tf_models.py, inputs/torchscript.py, inputs/opencv_models.py) import it from
below instead of from each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature


@dataclass
class ModelSpec:
    name: str
    artifact: Artifact  # the model as given: the root of the conversion graph
    signature: Signature
    content_hash: str
    data_factory: str | None = None  # a zoo model's own labelled eval set
    module: Any = field(default=None, repr=False)  # the nn.Module in this process, for torch inputs

    @property
    def is_torch(self) -> bool:
        return self.artifact.format.startswith("torch")
