"""One candidate row: its JSON mapping (schema edgepick.run/1), its database mapping, and the one table of metric
accessors that selection, compare and the reports read rows through.

A row stays a dict (the sweep, the rigor passes and the store annotate it as measurements arrive). Its fields are
declared once, in core/job.py FIELDS (type, unit, meaning, who writes it); the types here and the JSON keys, in their
declared order, are read from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from edgepick.core import job

_ROW = {f.name: f.type | None for f in job.FIELDS if f.row}
# The fields every candidate carries in --json output, in this order (see README, "JSON output")
PublicRow = TypedDict("PublicRow", {k: t for k, t in _ROW.items() if k in job.row_fields(job.PUBLIC)},  # type: ignore[misc]
                      total=False)
# A row as the sweep holds it: the public fields and what only the store and the rigor passes read
CandidateRow = TypedDict("CandidateRow", _ROW, total=False)  # type: ignore[misc]

FIELDS = job.row_fields(job.PUBLIC)

# the database's own columns (store/schema.py CandidateRow); every other field lives in its JSON `metrics` column
COLUMNS = ("key", "runtime", "precision", "threads", "batch", "status", "reason_class", "reason")


def to_json(row: CandidateRow, not_picked_because: str | None) -> dict:
    out = {k: row.get(k) for k in FIELDS}
    out["not_picked_because"] = not_picked_because
    return out


def to_db(row: CandidateRow) -> dict:
    """The keyword arguments of store.schema.CandidateRow."""
    fields: dict[str, Any] = {k: row[k] for k in COLUMNS}
    fields["latency_samples_ms"] = row.get("latency_samples_ms")
    fields["metrics"] = {k: v for k, v in row.items() if k not in COLUMNS and k != "latency_samples_ms"}
    return fields


def from_db(c) -> CandidateRow:
    """A store.schema.CandidateRow back into the row the sweep saved."""
    row: CandidateRow = {k: getattr(c, k) for k in COLUMNS}  # type: ignore[assignment]
    row.update(c.metrics or {})
    row["latency_samples_ms"] = c.latency_samples_ms
    return row


@dataclass(frozen=True)
class Metric:
    """One figure of a row: how to read it (None when not measured), which way is better, its label with its unit."""

    read: Callable[[dict], float | None]
    lower_is_better: bool
    label: str


def _latency(stat: str) -> Callable[[dict], float | None]:
    return lambda row: (row.get("latency_ms") or {}).get(stat)


def _field(name: str) -> Callable[[dict], float | None]:
    return lambda row: row.get(name)


# The one table of row metrics. The objective names (select/budget.py OBJECTIVES) and Pareto axes are its keys.
METRICS: dict[str, Metric] = {
    "latency": Metric(_latency("p50"), True, "p50 ms"),
    "p90": Metric(_latency("p90"), True, "p90 ms"),
    "p99": Metric(_latency("p99"), True, "p99 ms"),
    "cv": Metric(_latency("cv"), True, "CV %"),
    "throughput": Metric(_field("throughput_per_s"), False, "items/s"),
    "memory": Metric(_field("peak_rss_mb"), True, "peak RSS MB"),
    "size": Metric(_field("size_mb"), True, "size MB"),
    "load": Metric(_field("load_s"), True, "load s"),
    "first_inference": Metric(_field("first_inference_ms"), True, "1st ms"),
    "accuracy": Metric(_field("accuracy"), False, "accuracy"),
}


def metric(row: dict, name: str) -> float | None:
    return METRICS[name].read(row)


def device_of(row: dict) -> str | None:
    """The fleet device a row was measured on; None for a local row."""
    return (row.get("device") or {}).get("name")


def emulated(row: dict) -> str | None:
    """How the row's device was emulated ("qemu-user"), or None for real hardware."""
    return ((row.get("device") or {}).get("fingerprint") or {}).get("emulated")


def pickable(rows: list[dict]) -> list[dict]:
    """The rows a selection may consider: not those measured on an emulated device (issue 13: their latencies say the
    candidate runs and agrees there, not how fast the real chip would run it)."""
    return [row for row in rows if not emulated(row)]
