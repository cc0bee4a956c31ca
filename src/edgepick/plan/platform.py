"""The capability matrix as the report shows it, from edgepick.plan.capabilities (which keeps the data and its sources).

Filtering by platform happens in the planner (`Request.platform`, set from a device profile's `platform`); this
module only renders the matrix and says whether it is there.
"""

from __future__ import annotations

import importlib


def _matrix():
    try:
        return importlib.import_module("edgepick.plan.capabilities")
    except ImportError:
        return None


def matrix_available() -> bool:
    return _matrix() is not None


def _cell(value) -> str:
    if isinstance(value, dict):  # {name: True/False/None}: list what is supported, then what is undocumented
        yes = [k for k, v in value.items() if v is True]
        unknown = [k for k, v in value.items() if v is None]
        return ", ".join(yes) + (f" (undocumented: {', '.join(unknown)})" if unknown else "")
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def matrix_table(runtimes: list[str] | None = None) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows) for the runtimes of a run, each cell as text and the sources in the last column."""
    caps = _matrix()
    if caps is None:
        return None
    kinds = list(caps.CELL_KINDS)
    rows = []
    for entry in caps.table(runtimes):
        if entry.get("missing"):
            rows.append([entry["runtime"]] + ["not in the matrix"] + [""] * len(kinds))
            continue
        sources = sorted(set(entry["sources"].values()))
        rows.append([entry["runtime"]] + [_cell(entry[k]) for k in kinds] + [" ".join(sources)])
    return ["runtime", *kinds, "sources"], rows
