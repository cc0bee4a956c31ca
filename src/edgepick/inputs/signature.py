"""Input signatures: names, shapes and dtypes, with dynamic dimensions resolved from the user or the data."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from edgepick.core.errors import UserError

_DIM = re.compile(r"^[1-9][0-9]*$")


@dataclass
class TensorSpec:
    name: str
    shape: list  # ints, or None for a dynamic dimension (named or unnamed in the model)
    dtype: str = "float32"
    batch_dynamic: bool = False  # the first dimension may change (from the model, or assumed for torch input)
    value: float | int | bool | None = None  # one fixed value for every element (--input-value), e.g. a sample rate
    high: int | None = None  # synthetic integers stay below this (the rows of the embedding table the input indexes)

    @property
    def resolved(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)


@dataclass
class Signature:
    inputs: list[TensorSpec] = field(default_factory=list)
    whole: bool = False  # no batch axis, for good: set by settle() or --no-batch-axis, whatever batch_dynamic says
    declared_names: list[str] = field(default_factory=list)  # input names known before shapes (TorchScript forward)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.inputs]

    def to_dict(self) -> dict:
        return ({"inputs": [asdict(t) for t in self.inputs]} | ({"whole_feeds": True} if self.whole else {})
                | ({"declared_names": self.declared_names} if self.declared_names and not self.inputs else {}))

    @classmethod
    def from_dict(cls, d: dict) -> Signature:
        return cls([TensorSpec(**t) for t in d["inputs"]], whole=bool(d.get("whole_feeds")),
                   declared_names=list(d.get("declared_names") or []))

    @property
    def whole_feeds(self) -> bool:
        """True when the inputs share no leading batch axis: a 0-d input (a sample rate), or leading dims that differ
        (x [1, T, F] beside a recurrent state [2, 1, H]; a dynamic leading dim counts as the 1 it is resolved to).
        Such a model is fed whole: each stored sample is one complete set of inputs, one call each, and batch is 1.
        Read from the shapes alone, so the answer survives settle() clearing batch_dynamic and a to_dict() round trip."""
        if self.whole or any(not t.shape for t in self.inputs):
            return True
        return len({1 if t.shape[0] is None else t.shape[0] for t in self.inputs}) > 1

    def settle(self) -> Signature:
        """Once the shapes are known: a model without a batch axis keeps none (converters then export static shapes)."""
        if self.whole_feeds:
            self.whole = True
            for t in self.inputs:
                t.batch_dynamic = False
        return self

    def supports_batch(self, batch: int) -> bool:
        return self.batch_blocker(batch) is None

    def batch_blocker(self, batch: int) -> str | None:
        """Why this model cannot run at `batch` (one line for an unsupported-shape row), or None."""
        if self.whole_feeds:
            if batch == 1:
                return None
            return (f"batch {batch}: the model has no batch dimension ({self._why_no_batch()}); it is measured one "
                    "input set per call, batch 1")
        if all(t.batch_dynamic or (t.shape and t.shape[0] == batch) for t in self.inputs):
            return None
        fixed = {t.name: t.shape[0] for t in self.inputs if not t.batch_dynamic}
        return f"batch {batch}: the model's batch dimension is fixed ({fixed})"

    def _why_no_batch(self) -> str:
        scalar = [t.name for t in self.inputs if not t.shape]
        if scalar:
            return f"input {scalar[0]!r} is a scalar"
        if len(self.inputs) > 1:
            return "its inputs share no batch dimension (" + ", ".join(f"{t.name} {_fmt(t.shape)}" for t in self.inputs) + ")"
        return "--no-batch-axis"

    def shapes_for_batch(self, batch: int) -> dict[str, tuple]:
        out = {}
        for t in self.inputs:
            shape = list(t.shape)
            if t.batch_dynamic and shape and not self.whole_feeds:
                shape[0] = batch
            out[t.name] = tuple(shape)
        return out

    def example_inputs(self, batch: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
        """Deterministic synthetic inputs of `batch` rows (one whole input set when the model has no batch axis)."""
        rng = np.random.default_rng(seed)
        shapes = self.shapes_for_batch(batch)
        return {t.name: synthetic_array(t, shapes[t.name], rng) for t in self.inputs}

    def synthetic_samples(self, count: int, seed: int) -> dict[str, np.ndarray]:
        """Eval samples: `count` rows along the batch axis, or `count` whole input sets stacked on a new axis 0."""
        if not self.whole_feeds:
            return self.example_inputs(batch=count, seed=seed)  # a fixed batch dim keeps its size
        rng = np.random.default_rng(seed)
        shapes = self.shapes_for_batch(1)
        return {t.name: np.stack([synthetic_array(t, shapes[t.name], rng) for _ in range(count)]) for t in self.inputs}


_ID_RANGE = 100  # token ids below every real vocabulary size; an embedding table has at least this many rows


def synthetic_array(t: TensorSpec, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Values a model of this input's dtype and role can take: the user's fixed value; standard normal floats;
    masks as right-padded runs of ones; token type ids 0; position ids 0..L-1; other ints as token ids below 100;
    uint8/int8 over their full range (raw image bytes, quantized tensors); random bools."""
    dtype = np.dtype(t.dtype)
    name = t.name.lower()
    if t.value is not None:
        return np.full(shape, t.value, dtype=dtype)
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    if "mask" in name:
        return _padding_mask(shape, rng).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(bool)
    if dtype in (np.uint8, np.int8):
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, size=shape).astype(dtype)
    if "type" in name or "segment" in name:
        return np.zeros(shape, dtype=dtype)
    if "position" in name and shape:
        return np.broadcast_to(np.arange(shape[-1]), shape).astype(dtype)
    return rng.integers(0, min(_ID_RANGE, t.high or _ID_RANGE), size=shape).astype(dtype)


def _padding_mask(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """1 for real tokens, then 0 for padding, at least one real token per row (an all-zero row has no defined softmax)."""
    if not shape:
        return np.ones((), dtype=np.int64)
    lengths = rng.integers(1, shape[-1] + 1, size=shape[:-1])
    return (np.arange(shape[-1]) < lengths[..., None]).astype(np.int64)


class Shape(list):
    """A shape the user gave, with the dtype they named (`ids=1x128:int64`), or None: the model's own or float32."""

    dtype: str | None = None


_DTYPES = ("float32", "float16", "float64", "int64", "int32", "int8", "uint8", "bool")


def parse_shape(text: str) -> Shape:
    """'1x3x224x224' | 'scalar' (a 0-d input) | either with ':dtype', e.g. '1x128:int64', 'scalar:int64'."""
    body, _, dtype = text.strip().lower().partition(":")
    if dtype and dtype not in _DTYPES:
        raise UserError(f"bad dtype '{dtype}' in '{text}': use one of {', '.join(_DTYPES)}")
    parts = [] if body == "scalar" else body.split("x")
    if body != "scalar" and not all(_DIM.match(p) for p in parts):
        raise UserError(f"bad shape '{text}': write positive integers joined by 'x', e.g. 1x3x224x224 "
                        "('scalar' for a 0-d input; ':int64' after a shape sets its dtype)")
    shape = Shape(int(p) for p in parts)
    shape.dtype = dtype or None
    return shape


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
        if sig.declared_names:  # the model names its inputs (a TorchScript forward): those names, in that order
            names = _declared_order(sig.declared_names, shapes)
            shapes = {n: shapes[None] for n in names} if None in shapes else shapes
        given = [shapes[None if None in shapes else n] for n in names]
        sig.inputs = [TensorSpec(n, list(g), getattr(g, "dtype", None) or "float32", bool(g)) for n, g in zip(names, given)]
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
            if len(new) != len(t.shape):
                raise UserError(f"input '{t.name}' has rank {len(t.shape)} ({_fmt(t.shape)}); --input-shape gave {_fmt(new)}")
            t.shape = list(new)
            t.dtype = getattr(new, "dtype", None) or t.dtype
        elif t.shape and t.shape[0] is None and all(isinstance(d, int) for d in t.shape[1:]):
            t.shape[0] = 1  # only the batch dim is dynamic: --batch sets it
            t.batch_dynamic = True
    return sig


def parse_input_values(given, sig: Signature) -> dict[str, float | int | bool]:
    """--input-value sr=16000 (repeatable, or comma-separated; a dict from Python): one fixed value per named input,
    checked against the input's dtype. Sets TensorSpec.value, which synthetic data and --data without the array use."""
    if not given or not sig.inputs:  # no inputs known yet (a factory without --input-shape): that error comes first
        return {}
    pairs = given.items() if isinstance(given, dict) else [
        p.partition("=")[::2] for text in ([given] if isinstance(given, str) else given) for p in str(text).split(",") if p.strip()]
    out = {}
    for name, raw in pairs:
        name = str(name).strip()
        if name not in sig.names:
            raise UserError(f"--input-value names '{name}', which is not an input of the model (inputs: {', '.join(sig.names)})")
        out[name] = _typed_value(name, raw, next(t for t in sig.inputs if t.name == name).dtype)
    for t in sig.inputs:
        if t.name in out:
            t.value = out[t.name]
    return out


def _typed_value(name: str, raw, dtype: str):
    text = str(raw).strip().lower()
    kind = np.dtype(dtype).kind
    try:
        if kind == "b":
            if text not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text in ("true", "1")
        number = float(text)
    except ValueError:
        raise UserError(f"--input-value {name}={raw}: not a number (input '{name}' is {dtype}); write e.g. {name}=16000") from None
    if not np.isfinite(number) and kind != "f":
        raise UserError(f"--input-value {name}={raw}: input '{name}' is {dtype}; give a finite integer")
    if kind in "iu":
        info = np.iinfo(dtype)
        if number != int(number) or not info.min <= number <= info.max:
            raise UserError(f"--input-value {name}={raw}: input '{name}' is {dtype}; give an integer in [{info.min}, {info.max}]")
        return int(number)
    return number


def _declared_order(declared: list[str], shapes: dict) -> list[str]:
    if None in shapes:
        if len(declared) != 1:
            raise UserError(f"the model has {len(declared)} inputs ({', '.join(declared)}); give --input-shape as "
                            "name=shape pairs")
        return list(declared)
    if set(shapes) != set(declared):
        raise UserError(f"--input-shape must name each input of the model, no other: {', '.join(declared)} "
                        f"(it named {', '.join(map(str, shapes))})")
    return list(declared)


def require_resolved(sig: Signature) -> Signature:
    if not sig.inputs and sig.declared_names:
        wanted = ",".join(f"{n}=SHAPE" for n in sig.declared_names)
        raise UserError(f"the model records its inputs ({', '.join(sig.declared_names)}) but not their shapes; pass "
                        f"--input-shape {wanted}, e.g. {sig.declared_names[0]}=1x3x224x224 (a 0-d input: NAME=scalar; "
                        "a dtype: NAME=1x128:int64)")
    if not sig.inputs:
        raise UserError("the model's input shape is unknown; pass --input-shape, e.g. --input-shape 1x3x224x224")
    open_ = [t for t in sig.inputs if not t.resolved]
    if open_:  # every open input in one line, so one retry is enough
        dims = ", ".join(f"'{t.name}' {_fmt(t.shape)}" for t in open_)
        fix = ",".join(f"{t.name}=" + "x".join(str(d) if isinstance(d, int) else "1" if i == 0 and t.batch_dynamic else "N"
                                                for i, d in enumerate(t.shape)) for t in open_)
        raise UserError(f"input{'s' if len(open_) > 1 else ''} {dims} ha{'ve' if len(open_) > 1 else 's'} dynamic dims; "
                        f"pass --input-shape {fix} (N: the size to measure)")
    return sig


def _fmt(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"
