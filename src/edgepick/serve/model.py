"""The served model: a measured candidate's artifact loaded with the same runtime and threads, and request validation.

The artifact is the exact file the run measured and `edgepick export` copies (export/bundle.py); it is loaded with the
runtime's own Session (prepare -> run -> to_numpy), the code path the sweep timed, so served and in-process numbers
differ only by what serving adds (HTTP, JSON, queueing, batching).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import numpy as np

from edgepick.core.errors import UserError, first_line
from edgepick.inputs.signature import Signature


class BadRequest(Exception):
    """A request the server refuses: an HTTP 4xx status and one line saying what is wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Served:
    run_id: str
    key: str
    runtime: str
    threads: int
    signature: Signature
    session: object
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def batch_dynamic(self) -> bool:
        return all(t.batch_dynamic for t in self.signature.inputs)

    def infer(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        with self.lock:  # a Session is not re-entrant (OpenVINO binds inputs on its one infer request)
            return self.session.to_numpy(self.session.run(self.session.prepare(inputs)))

    def describe_inputs(self) -> list[dict]:
        return [{"name": t.name, "shape": ["N" if t.batch_dynamic and i == 0 else d for i, d in enumerate(t.shape)],
                 "dtype": t.dtype} for t in self.signature.inputs]


def load_served(run, key: str | None) -> Served:
    from edgepick.core.artifact import Artifact
    from edgepick.core.registry import RUNTIMES
    from edgepick.export.bundle import _choose

    row = _choose(run, key)  # the pick by default; a named candidate must have passed
    runtime_cls = RUNTIMES.get(row["runtime"])
    if runtime_cls.env:
        raise UserError(f"{row['runtime']} runs in its own venv ({runtime_cls.env}); serve a candidate of a runtime that "
                        "runs in this Python, e.g. --candidate onnxruntime/fp32/t1/b1")
    why = runtime_cls.unavailable_reason()
    if why:
        raise UserError(why)
    art = (row.get("worker_job") or {}).get("artifact") or row.get("artifact") or {}
    if not art.get("path"):
        raise UserError(f"candidate {row['key']} has no artifact recorded; run the sweep again")
    _check_unchanged(run, art)
    runtime = runtime_cls()
    runtime.import_framework()
    session = runtime.load(Artifact.from_dict(art) if "meta" in art else Artifact(art["format"], art["path"]), row["threads"])
    signature = Signature.from_dict(run.request["signature"])
    return Served(run.run_id, row["key"], row["runtime"], row["threads"], signature, session)


def _check_unchanged(run, art: dict) -> None:
    """The model on disk must be the one the run measured (export/integrity.py), or its figures are not this model's."""
    from edgepick.export.integrity import check_factory_module, check_source_file

    check_source_file(run, art)
    if art.get("format") == "torch-factory":
        from edgepick.core.artifact import Artifact
        from edgepick.runtimes.torch_eager import load_torch_module

        check_factory_module(run, load_torch_module(Artifact.from_dict(art)), art["path"])


def _array(name: str, value, dtype: str) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except (ValueError, RecursionError):
        raise BadRequest(422, f"input '{name}' is not a rectangular nested list of numbers") from None
    want = np.dtype(dtype)
    if arr.dtype.kind not in "biuf":
        raise BadRequest(422, f"input '{name}' must hold numbers ({dtype}); got {_kind(arr)}")
    if want.kind in "iu" and arr.dtype.kind == "f":
        raise BadRequest(422, f"input '{name}' takes integers ({dtype}); got floating-point values")
    if want.kind == "b" and arr.dtype.kind not in "b":
        raise BadRequest(422, f"input '{name}' takes booleans (true/false)")
    if want.kind in "iu" and arr.size and (arr.min() < np.iinfo(want).min or arr.max() > np.iinfo(want).max):
        raise BadRequest(422, f"input '{name}' holds integers outside {dtype}'s range")
    with np.errstate(over="ignore", invalid="ignore"):
        cast = arr.astype(want, copy=False)
    # checked after the cast: 1e300 is finite in float64 and Infinity in float32
    if cast.dtype.kind == "f" and not np.isfinite(cast).all():
        raise BadRequest(422, f"input '{name}' holds NaN or Infinity, or values too large for {dtype}")
    return cast


def check_outputs(outputs: list[np.ndarray]) -> None:
    """A 200 holds JSON numbers only: finite float32 inputs can overflow inside the model (NaN, Infinity), and those
    are not JSON (a strict client cannot read the body). Refused as the inputs' fault, like a value too large."""
    for i, out in enumerate(outputs):
        if out.dtype.kind in "fc" and not np.isfinite(out).all():
            raise BadRequest(422, f"the model's output {i} is NaN or Infinity for these inputs (they overflow inside "
                                  "the model; JSON has no NaN)")


def _kind(arr: np.ndarray) -> str:
    return {"U": "strings", "O": "mixed or nested values", "S": "bytes"}.get(arr.dtype.kind, str(arr.dtype))


def _check_shape(name: str, arr: np.ndarray, spec, max_rows: int) -> int:
    shape = list(spec.shape)
    want = "x".join(["N", *map(str, shape[1:])]) if spec.batch_dynamic else "x".join(map(str, shape))
    got = "x".join(map(str, arr.shape)) or "a scalar"
    if arr.ndim != len(shape) or (spec.batch_dynamic and list(arr.shape[1:]) != shape[1:]) or (
            not spec.batch_dynamic and list(arr.shape) != shape):
        raise BadRequest(422, f"input '{name}' has shape {got}; the model takes {want}"
                         + (f" (N = 1..{max_rows} rows)" if spec.batch_dynamic else ""))
    rows = arr.shape[0]
    if spec.batch_dynamic and not 1 <= rows <= max_rows:
        raise BadRequest(422, f"input '{name}' has {rows} rows; this server takes 1..{max_rows} per request")
    return rows


def parse_request(body: bytes, signature: Signature, max_rows: int) -> tuple[dict[str, np.ndarray], int]:
    """JSON {"inputs": {name: nested list}} -> (arrays by name, rows); BadRequest with one line otherwise."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(400, f"the body is not JSON ({first_line(e, 120)})") from None
    except RecursionError:  # JSON nested thousands of levels deep: no model input is
        raise BadRequest(400, "the body's JSON is nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs"), dict):
        raise BadRequest(422, 'send a JSON object {"inputs": {name: nested list}}')
    given, names = doc["inputs"], signature.names
    missing, unknown = [n for n in names if n not in given], sorted(set(given) - set(names))
    if missing or unknown:
        raise BadRequest(422, (f"missing input(s) {missing}" if missing else f"unknown input(s) {unknown}")
                         + f"; the model's inputs are {names}")
    arrays, rows = {}, set()
    for spec in signature.inputs:
        arrays[spec.name] = _array(spec.name, given[spec.name], spec.dtype)
        rows.add(_check_shape(spec.name, arrays[spec.name], spec, max_rows))
    if len(rows) > 1:
        raise BadRequest(422, f"inputs disagree on the number of rows ({sorted(rows)})")
    return arrays, rows.pop()
