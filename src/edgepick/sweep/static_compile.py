"""A runtime's static-shape compile is an optimisation, checked like a conversion, with the dynamic graph to fall back on.

ONNX Runtime fixes a graph's free dimensions to the measured shapes (free-dimension overrides) and OpenVINO reshapes
a dynamic model before compiling, so the optimiser sees static shapes. The reference ran the graph as it is. When a
row so compiled disagrees with the reference, or fails to load or run, the worker runs once more with the static
compile off (artifact meta "dynamic_shapes"); if that copy agrees, it is the row, and the row says why.
"""

from __future__ import annotations

from edgepick.core import errors
from edgepick.core.artifact import Artifact

# The runtimes that compile for the measured shapes by default, and the outcomes that may be the compile's doing.
STATIC_COMPILERS = ("onnxruntime", "openvino")
RETRY_CLASSES = (errors.DISAGREES, errors.LOAD_ERROR, errors.RUNTIME_ERROR, errors.CRASH)


def described(row: dict) -> str | None:
    """What the static compile fixed, when this row was compiled so and may owe its outcome to it; else None."""
    if row["runtime"] not in STATIC_COMPILERS or row["status"] == "ok" or row.get("reason_class") not in RETRY_CLASSES:
        return None
    details = row.get("runtime_details") or {}
    if details.get("free_dimension_overrides"):
        return "free-dimension overrides " + ", ".join(f"{k}={v}" for k, v in details["free_dimension_overrides"].items())
    if details.get("static_compile"):
        return "reshaped to " + ", ".join(f"{k} {v}" for k, v in (details.get("compiled_shapes") or {}).items())
    if not details and row.get("reason_class") != errors.DISAGREES:  # failed before the runtime reported its compile
        return "compiled for the measured shapes"
    return None


def dynamic(artifact: Artifact) -> Artifact:
    """The same artifact, to be compiled for dynamic shapes."""
    return Artifact(artifact.format, artifact.path, {**artifact.meta, "dynamic_shapes": True})


def settle(static_row: dict, dynamic_row: dict, what: str) -> dict:
    """The row to keep: the dynamic one when it agrees (saying why), else the static one with the retry beside it."""
    first = static_row.get("reason") or static_row["status"]
    if dynamic_row["status"] == "ok":
        dynamic_row.setdefault("notes", []).append(
            f"static compile ({what}) {'changed the outputs' if static_row['status'] == 'disagrees' else 'failed'}: "
            f"{first}; measured on the dynamic graph")
        return dynamic_row
    static_row["reason"] = f"{first} (also with the static compile off: {dynamic_row.get('reason') or dynamic_row['status']})"
    return static_row
