"""Evaluation data: the inputs every candidate runs for equivalence, and labels for accuracy when given."""

from __future__ import annotations

import hashlib
import importlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepick.errors import UserError
from edgepick.signature import Signature, require_resolved
from edgepick.validate import check_data_arrays

DEFAULT_SYNTHETIC_SAMPLES = 16


@dataclass
class EvalData:
    inputs: dict[str, np.ndarray]  # name -> N x per-sample shape
    labels: np.ndarray | None
    source: str  # where the samples came from, recorded with the run

    @property
    def count(self) -> int:
        return len(next(iter(self.inputs.values())))

    def save(self, path: Path) -> None:
        arrays = {f"in:{k}": v for k, v in self.inputs.items()}
        np.savez(path, **arrays)


def arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """Content hash of named arrays: what identifies eval inputs or a calibration set."""
    h = hashlib.sha256()
    for k in sorted(arrays):
        h.update(k.encode())
        h.update(np.ascontiguousarray(arrays[k]).tobytes())
    return h.hexdigest()


def load_inputs_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k[3:]: f[k] for k in f.files if k.startswith("in:")}


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
        if not zipfile.is_zipfile(path):  # else np.load would try it as a pickle and blame "pickled data"
            raise UserError(f"{data} is not a readable .npz file (not a zip archive); save it with numpy.savez(x=..., y=...)")
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except Exception as e:  # a damaged archive fails in many ways (fuzz/: EOFError, NotImplementedError, RuntimeError)
            why = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}" if str(e).strip() else type(e).__name__
            raise UserError(f"{data} is not a readable .npz file ({why}); save it with numpy.savez(x=..., y=...)") from e
        y = arrays.pop("y", None)
        x = arrays.pop("x", None) if "x" in arrays else {k: v for k, v in arrays.items() if k in sig.names}
        if x is None or (isinstance(x, dict) and not x):
            raise UserError(f"{data} has no 'x' array (nor arrays named after the inputs {sig.names})")
        source = str(path)
    elif Path(str(data)).is_dir():  # an ImageFolder layout: <root>/<class>/<image>
        from edgepick.imagefolder import read_image_folder

        return read_image_folder(Path(str(data)), sig, limit)
    elif ":" in str(data):
        module_name, _, attr = str(data).partition(":")
        try:
            x, y = getattr(importlib.import_module(module_name), attr)()
        except (ImportError, AttributeError) as e:
            raise UserError(f"cannot import data callable '{data}': {e}") from e
        except (Exception, SystemExit) as e:  # the user's callable failed: one line, never an exit 0
            from edgepick.usercode import user_code_failure

            raise UserError(f"the data callable '{data}' failed: {user_code_failure(e)}") from e
        source = str(data)
    else:
        raise UserError(f"--data {data}: give an .npz file with x (and y), a folder of class sub-folders of images, "
                        "or a module:callable returning (x, y)")
    if not isinstance(x, dict):
        if len(sig.inputs) > 1:
            raise UserError(f"the model has {len(sig.inputs)} inputs; the data must hold one array per input name")
        x = {sig.inputs[0].name: x}
    check_data_arrays({k: np.asarray(v) for k, v in x.items()}, None if y is None else np.asarray(y), source)
    x = {k: np.asarray(v)[:limit] for k, v in x.items()}
    if y is not None:
        y = np.asarray(y)[:limit]
    return x, y, source


def check_against_signature(x: dict[str, np.ndarray], sig: Signature, source: str) -> None:
    """Resolve dynamic dims from the data, and refuse data whose per-sample shape the model cannot take."""
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


def eval_data(spec_data, sig: Signature, data, limit: int) -> EvalData:
    read = read_data_arg(data, sig, limit)
    if read is None and spec_data:
        module_name, _, attr = spec_data.partition(":")
        xs, ys = getattr(importlib.import_module(module_name), attr)()
        read = ({sig.inputs[0].name: xs[:limit]}, ys[:limit], f"built-in ({spec_data})")
    if read is not None:
        x, y, source = read
        check_against_signature(x, sig, source)
        return EvalData(x, y, source)
    require_resolved(sig)
    samples = sig.example_inputs(batch=DEFAULT_SYNTHETIC_SAMPLES, seed=1)  # a fixed batch dim keeps its size
    return EvalData(samples, None, f"synthetic (seed 1, {len(next(iter(samples.values())))} samples)")
