"""One candidate row: its fields, its JSON mapping (schema edgepick.run/1), its database mapping, and the one table of
metric accessors that selection, compare and the reports read rows through.

A row stays a dict (the sweep, the rigor passes and the store annotate it as measurements arrive), typed by
CandidateRow so the fields are declared once: the JSON keys are PublicRow's fields in their declared order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict


class PublicRow(TypedDict, total=False):
    """The fields every candidate carries in --json output, in this order (see README, "JSON output")."""

    key: str  # runtime/precision-or-compression/tN/bN
    runtime: str
    precision: str
    threads: int
    batch: int
    status: str  # ok | failed | disagrees | pruned (a probe clearly slower than the best; sweep/search.py)
    reason_class: str | None  # core/errors.py's reason classes
    reason: str | None  # one line
    latency_ms: dict | None  # p50, p90, p99, mean, cv, robust_cv, ci...
    load_s: float | None
    import_s: float | None
    compile_s: float | None
    first_inference_ms: float | None
    throughput_per_s: float | None
    peak_rss_mb: float | None
    rss_above_baseline_mb: float | None
    size_mb: float | None
    equivalence: dict | None  # max_abs_err, max_rel_err, cosine, top1_agreement (and the tolerance when not the default)
    accuracy: float | None
    conversion: list  # the converter steps and their seconds
    cores: list[int]
    memory_cap: dict | None
    artifact: dict | None
    runtime_details: dict | None  # what the runtime verified at load, e.g. LiteRT's XNNPACK delegate (issue 3)
    # measurement rigor (issue 6): present when measured; energy says "measured" or "estimate" in its kind
    energy: dict | None
    roofline: dict | None
    noise: dict | None
    loadgen: dict | None
    op_profile: dict | None
    cold_start: dict | None
    interleaved: dict | None
    # compression (issue 4): the pass, its options, calibration set, flags; the metric and its drop
    compression: dict | None
    metric: dict | None
    realtime: dict | None  # real time (issue 15): frame loop, deadlines at --fps, background load; null unless asked
    precision_support: dict | None  # precision (issue 10): a BF16/FP16 row's support here (native, or predicted slower)
    device: dict | None  # the device fleet (issue 13): {"name", "fingerprint"} of the device that measured it; null = here
    notes: list | None  # how the row got its verdict where not by the plain rule (a fallback, a cross-precision pass)
    # the search (issue 23): the short timing window every candidate gets first, and its verdict against the best
    # probe ({"latency_ms": {...}, "pruned": {...} or absent}); null under --exhaustive
    probe: dict | None
    prediction: dict | None  # what the store's history predicted for this row, and whether the measurement agreed


class CandidateRow(PublicRow, total=False):
    """A row as the sweep holds it: the public fields and what only the store and the rigor passes read."""

    latency_samples_ms: list[float] | None  # the steady-state samples (their own database column)
    baseline_rss_mb: float | None
    warmup_calls: int | None
    worker_wall_s: float | None
    worker_job: dict  # what interleaved windows and repeats need to re-launch this candidate


FIELDS = tuple(PublicRow.__annotations__)

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
