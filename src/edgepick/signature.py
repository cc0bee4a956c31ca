"""Input signatures: names, shapes and dtypes, with dynamic dimensions resolved from the user or the data."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from edgepick.errors import UserError

_DIM = re.compile(r"^[1-9][0-9]*$")


@dataclass
class TensorSpec:
    name: str
    shape: list  # ints, or None for a dynamic dimension (named or unnamed in the model)
    dtype: str = "float32"
    batch_dynamic: bool = False  # the first dimension may change (from the model, or assumed for torch input)

    @property
    def resolved(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)


@dataclass
class Signature:
    inputs: list[TensorSpec] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.inputs]

    def to_dict(self) -> dict:
        return {"inputs": [asdict(t) for t in self.inputs]}

    @classmethod
    def from_dict(cls, d: dict) -> Signature:
        return cls([TensorSpec(**t) for t in d["inputs"]])

    def supports_batch(self, batch: int) -> bool:
        return all(t.batch_dynamic or (t.shape and t.shape[0] == batch) for t in self.inputs)

    def shapes_for_batch(self, batch: int) -> dict[str, tuple]:
        out = {}
        for t in self.inputs:
            shape = list(t.shape)
            if t.batch_dynamic and shape:
                shape[0] = batch
            out[t.name] = tuple(shape)
        return out

    def example_inputs(self, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
        """Deterministic synthetic inputs: standard normal floats, small non-negative ints (token ids, masks)."""
        rng = np.random.default_rng(seed)
        out = {}
        for t in self.inputs:
            shape = self.shapes_for_batch(batch)[t.name]
            if np.issubdtype(np.dtype(t.dtype), np.floating):
                out[t.name] = rng.standard_normal(shape).astype(t.dtype)
            elif np.dtype(t.dtype) == np.bool_:
                out[t.name] = np.ones(shape, dtype=bool)
            else:
                out[t.name] = rng.integers(0, 2 if "mask" in t.name else 100, size=shape).astype(t.dtype)
        return out


def parse_shape(text: str) -> list[int]:
    parts = text.strip().lower().split("x")
    if not parts or not all(_DIM.match(p) for p in parts):
        raise UserError(f"bad shape '{text}': write positive integers joined by 'x', e.g. 1x3x224x224")
    return [int(p) for p in parts]


def parse_input_shapes(text: str | None) -> dict[str | None, list[int]]:
    """'1x3x224x224' -> {None: [...]}; 'ids=1x128,mask=1x128' -> {'ids': [...], 'mask': [...]}."""
    if not text:
        return {}
    if "=" not in text:
        return {None: parse_shape(text)}
    out: dict[str | None, list[int]] = {}
    for pair in text.split(","):
        name, sep, shape = pair.partition("=")
        if not sep or not name.strip():
            raise UserError(f"bad --input-shape '{text}': use one shape (1x3x224x224) or name=shape pairs (ids=1x128,mask=1x128)")
        out[name.strip()] = parse_shape(shape)
    return out


def apply_shapes(sig: Signature, shapes: dict[str | None, list[int]]) -> Signature:
    """Override or resolve the model's shapes with the user's (a torch model gets its signature from here)."""
    if not sig.inputs and shapes:  # a torch module: the user's shapes define the inputs
        names = ["input"] if None in shapes else list(shapes)
        sig.inputs = [TensorSpec(n, list(shapes[None if None in shapes else n]), "float32", True) for n in names]
        return sig
    if None in shapes:
        if len(sig.inputs) != 1:
            raise UserError(
                f"the model has {len(sig.inputs)} inputs ({', '.join(sig.names)}); give --input-shape as name=shape pairs"
            )
        shapes = {sig.inputs[0].name: shapes[None]}
    unknown = set(shapes) - set(sig.names)
    if unknown:
        raise UserError(f"--input-shape names {sorted(unknown)} are not inputs of the model (inputs: {', '.join(sig.names)})")
    for t in sig.inputs:
        if t.name in shapes:
            new = shapes[t.name]
            if t.shape and len(new) != len(t.shape):
                raise UserError(f"input '{t.name}' has rank {len(t.shape)} ({_fmt(t.shape)}); --input-shape gave {_fmt(new)}")
            t.shape = list(new)
        elif t.shape and t.shape[0] is None and all(isinstance(d, int) for d in t.shape[1:]):
            t.shape[0] = 1  # only the batch dim is dynamic: --batch sets it
            t.batch_dynamic = True
    return sig


def require_resolved(sig: Signature) -> Signature:
    if not sig.inputs:
        raise UserError("the model's input shape is unknown; pass --input-shape, e.g. --input-shape 1x3x224x224")
    for t in sig.inputs:
        if not t.resolved:
            raise UserError(f"input '{t.name}' has dynamic dims {_fmt(t.shape)}; pass --input-shape {t.name}=" + "x".join(
                str(d) if isinstance(d, int) else "N" for d in t.shape))
    return sig


def _fmt(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)
