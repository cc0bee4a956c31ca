"""Evaluation data: the inputs every candidate runs for equivalence, and labels for accuracy when given."""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepick.core.errors import UserError, first_line
from edgepick.inputs.signature import Signature, require_resolved
from edgepick.inputs.validate import check_data_arrays, is_zip_archive

DEFAULT_SYNTHETIC_SAMPLES = 16


@dataclass
class EvalData:
    inputs: dict[str, np.ndarray]  # name -> N x per-sample shape (N x the whole input when the model has no batch axis)
    labels: np.ndarray | None
    source: str  # where the samples came from, recorded with the run
    whole_feeds: bool = False  # each of the N samples is one complete set of inputs, fed as is, one call each

    def __post_init__(self):  # inputs read back from an .npz (load_inputs_npz) say it themselves
        self.whole_feeds = self.whole_feeds or getattr(self.inputs, "whole_feeds", False)
        if self.whole_feeds and not getattr(self.inputs, "whole_feeds", False):
            self.inputs = _feeds(self.inputs, True)

    @property
    def count(self) -> int:
        return len(next(iter(self.inputs.values())))

    def save(self, path: Path) -> None:
        arrays = {f"in:{k}": v for k, v in self.inputs.items()}
        if self.whole_feeds:  # the worker reads it back (load_inputs_npz) to feed sample i as the whole input
            arrays[WHOLE_FEEDS_KEY] = np.array(True)
        np.savez(path, **arrays)


WHOLE_FEEDS_KEY = "meta:whole_feeds"


class Feeds(dict):
    """Eval inputs as the worker reads them; `whole_feeds` says sample i is the model's complete input i."""

    whole_feeds: bool = False


def _feeds(arrays: dict[str, np.ndarray], whole_feeds: bool) -> Feeds:
    feeds = Feeds(arrays)
    feeds.whole_feeds = whole_feeds
    return feeds


def parts(inputs: dict[str, np.ndarray], whole_feeds: bool, size: int):
    """The eval inputs as model calls: chunks of `size` rows along the batch axis, or one whole input set per call."""
    n = len(next(iter(inputs.values())))
    for start in range(0, n, 1 if whole_feeds else size):
        if whole_feeds:
            yield {k: np.asarray(v[start], order="C") for k, v in inputs.items()}
        else:
            yield {k: v[start:start + size] for k, v in inputs.items()}


def join_outputs(per_call: list[list[np.ndarray]], whole_feeds: bool) -> list[np.ndarray]:
    """Outputs of parts() calls as N x output arrays: concatenated along the batch axis, or stacked on a new axis 0."""
    join = np.stack if whole_feeds else np.concatenate
    return [join([np.asarray(o[i]) for o in per_call]) for i in range(len(per_call[0]))]


def head(inputs: dict[str, np.ndarray], count: int, whole_feeds: bool) -> dict[str, np.ndarray]:
    """The first `count` rows as one model input (batched), or the first whole input set (no batch axis)."""
    if whole_feeds:
        return {k: np.asarray(v[0], order="C") for k, v in inputs.items()}
    return {k: np.ascontiguousarray(v[:count]) for k, v in inputs.items()}


def arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """Content hash of named arrays: what identifies eval inputs or a calibration set."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        h.update(k.encode())
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()


def load_inputs_npz(path: Path) -> Feeds:
    with np.load(path, allow_pickle=False) as f:
        feeds = Feeds({k[3:]: f[k] for k in f.files if k.startswith("in:")})
        feeds.whole_feeds = WHOLE_FEEDS_KEY in f.files
    return feeds


def read_data_arg(data: str | tuple | None, sig: Signature, limit: int) -> tuple[dict[str, np.ndarray], np.ndarray | None, str] | None:
    """--data as an .npz (x[/y], or one array per input name) or a 'module:callable' returning (x, y)."""
    if data is None:
        return None
    if isinstance(data, tuple):
        x, y = data
        source = "python"
    elif str(data).endswith(".npz"):
        path = Path(data)
        if not path.exists():
            raise UserError(f"no such data file: {data}")
        if not is_zip_archive(path):  # else np.load would try it as a pickle and blame "pickled data"
            raise UserError(f"{data} is not a readable .npz file (not a zip archive); save it with numpy.savez(x=..., y=...)")
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except Exception as e:  # a damaged archive fails in many ways (fuzz/: EOFError, NotImplementedError, RuntimeError)
            why = f"{type(e).__name__}: {first_line(e, 200)}" if str(e).strip() else type(e).__name__
            raise UserError(f"{data} is not a readable .npz file ({why}); save it with numpy.savez(x=..., y=...)") from e
        y = arrays.pop("y", None)
        named = {k: v for k, v in arrays.items() if k in sig.names}  # an input may itself be called "x"
        x = named if len(named) > 1 or "x" not in arrays else arrays.pop("x")
        if x is None or (isinstance(x, dict) and not x):
            raise UserError(f"{data} has no 'x' array (nor arrays named after the inputs {sig.names})")
        source = str(path)
    elif Path(str(data)).is_dir():  # an ImageFolder layout: <root>/<class>/<image>
        from edgepick.inputs.imagefolder import read_image_folder

        return read_image_folder(Path(str(data)), sig, limit)
    elif ":" in str(data):
        module_name, _, attr = str(data).partition(":")
        try:
            x, y = getattr(importlib.import_module(module_name), attr)()
        except (ImportError, AttributeError) as e:
            raise UserError(f"cannot import data callable '{data}': {e}") from e
        except (Exception, SystemExit) as e:  # the user's callable failed: one line, never an exit 0
            from edgepick.inputs.usercode import user_code_failure

            raise UserError(f"the data callable '{data}' failed: {user_code_failure(e)}") from e
        source = str(data)
    else:
        raise UserError(f"--data {data}: give an .npz file with x (and y), a folder of class sub-folders of images, "
                        "or a module:callable returning (x, y)")
    free = [t.name for t in sig.inputs if t.value is None]  # inputs --input-value does not fix
    if not isinstance(x, dict) and len(sig.inputs) > 1 and len(free) == 1:
        x = {free[0]: x}  # one array for the one input left open: x beside a fixed sample rate

    if not isinstance(x, dict):
        if len(sig.inputs) > 1:
            raise UserError(f"the model has {len(sig.inputs)} inputs; the data must hold one array per input name")
        x = {sig.inputs[0].name: x}
    check_data_arrays({k: np.asarray(v) for k, v in x.items()}, None if y is None else np.asarray(y), source)
    x = {k: np.asarray(v)[:limit] for k, v in x.items()}
    if y is not None:
        y = np.asarray(y)[:limit]
    return x, y, source


def _fill_fixed_values(x: dict[str, np.ndarray], sig: Signature) -> None:
    """An input the data leaves out but --input-value fixes (a sample rate) gets its value in every sample."""
    n = len(next(iter(x.values()))) if x else 0
    for t in sig.inputs:
        if t.name not in x and t.value is not None and t.resolved:
            per_sample = t.shape if sig.whole_feeds else t.shape[1:]
            x[t.name] = np.full((n, *per_sample), t.value, dtype=t.dtype)


def check_against_signature(x: dict[str, np.ndarray], sig: Signature, source: str) -> None:
    """Resolve dynamic dims from the data, and refuse data whose per-sample shape the model cannot take."""
    _fill_fixed_values(x, sig)
    if sig.whole_feeds:
        return _check_whole_feeds(x, sig, source)
    for t in sig.inputs:
        if t.name not in x:
            raise UserError(f"data {source} has no array for input '{t.name}'")
        arr = x[t.name]
        sample = list(arr.shape[1:])
        expected = t.shape[1:]
        if len(sample) != len(expected) or any(e is not None and e != s for e, s in zip(expected, sample)):
            want = "x".join("?" if d is None else str(d) for d in expected)
            raise UserError(f"data {source}: samples of '{t.name}' have shape {'x'.join(map(str, sample)) or 'scalar'}, "
                            f"but the model expects {want} per sample")
        t.shape = [t.shape[0] if t.shape else 1] + sample
        if t.shape[0] is None:
            t.shape[0] = 1
            t.batch_dynamic = True
        x[t.name] = arr.astype(t.dtype, copy=False)


def _check_whole_feeds(x: dict[str, np.ndarray], sig: Signature, source: str) -> None:
    """No batch axis: each sample along axis 0 is the whole input, so its shape is the input's full shape."""
    for t in sig.inputs:
        if t.name not in x:
            raise UserError(f"data {source} has no array for input '{t.name}' (or give it a fixed value: "
                            f"--input-value {t.name}=VALUE)")
        arr = np.asarray(x[t.name])
        sample = list(arr.shape[1:])
        if arr.ndim == 0 or len(sample) != len(t.shape) or any(e is not None and e != s for e, s in zip(t.shape, sample)):
            want = "x".join("?" if d is None else str(d) for d in t.shape) or "a scalar"
            raise UserError(f"data {source}: the model has no batch axis, so '{t.name}' must stack whole inputs of shape "
                            f"{want} along axis 0; it has shape {'x'.join(map(str, arr.shape)) or 'scalar'}")
        t.shape = sample
        x[t.name] = arr.astype(t.dtype, copy=False)
    counts = {k: len(v) for k, v in x.items() if k in sig.names}
    if len(set(counts.values())) > 1:
        raise UserError(f"data {source}: the inputs hold different numbers of samples {counts}; give the same count for each")


def eval_data(spec_data, sig: Signature, data, limit: int) -> EvalData:
    read = read_data_arg(data, sig, limit)
    if read is None and spec_data:
        module_name, _, attr = spec_data.partition(":")
        xs, ys = getattr(importlib.import_module(module_name), attr)()
        read = ({sig.inputs[0].name: xs[:limit]}, ys[:limit], f"built-in ({spec_data})")
    if read is not None:
        x, y, source = read
        check_against_signature(x, sig, source)
        sig.settle()
        return EvalData(_feeds(x, sig.whole_feeds), y, source, sig.whole_feeds)
    require_resolved(sig).settle()
    samples = sig.synthetic_samples(DEFAULT_SYNTHETIC_SAMPLES, seed=1)
    fixed = ", ".join(f"{t.name}={t.value}" for t in sig.inputs if t.value is not None)
    return EvalData(_feeds(samples, sig.whole_feeds), None, f"synthetic (seed 1, {len(next(iter(samples.values())))} samples"
                    f"{', ' + fixed if fixed else ''})", sig.whole_feeds)
