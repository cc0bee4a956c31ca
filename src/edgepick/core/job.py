"""The job/result contract between the parent and a measurement worker, in one place.

The job: the settings the parent (CLI, sweep, training's deploy step) builds and a worker reads, as plain dataclasses
sent as dicts (TimingPolicy, LoadGenSettings, RealtimeSettings). The result: FIELDS, every field a worker's result or a
candidate row carries, each declared once with its type, unit and meaning. The worker writes it, the sweep copies the
measured ones into the row (copy_measured), core/rows.py takes the row's JSON and store fields from it and
report/columns.py a table column from any field that declares one. A key the worker writes that is not declared is
an error under EDGEPICK_STRICT_CONTRACT=1 (the tests set it) and a warning otherwise: never a silent drop.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

from edgepick.core.errors import UserError


@dataclass
class TimingPolicy:
    """How long the steady state runs (worker/latency.timed_loop): warm-up by count and time, then samples."""

    warmup_count: int = 10
    warmup_s: float = 0.5
    min_samples: int = 50
    min_duration_s: float = 2.0
    max_duration_s: float = 30.0
    max_samples: int = 100_000

    def to_dict(self) -> dict:
        return asdict(self)

    def longer(self) -> TimingPolicy:
        """The re-measure of an unsteady median (rigor/run.py, worker/measure.py): twice the duration and samples."""
        return replace(self, min_duration_s=2 * self.min_duration_s, min_samples=2 * self.min_samples,
                       max_duration_s=max(self.max_duration_s, 4 * self.min_duration_s))


# The probe (sweep/search.py): a short window after a short warm-up, long enough for an order-statistic CI of the
# median (>= 6 samples) and short enough that a candidate 30x slower than the best costs seconds, not minutes.
PROBE_POLICY = TimingPolicy(warmup_count=3, warmup_s=0.1, min_samples=15, min_duration_s=0.3, max_duration_s=3.0)

SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline")


@dataclass
class LoadGenSettings:
    """An MLPerf LoadGen scenario after the steady state (worker/loadgen.py), or against an endpoint (serve/)."""

    scenario: str = "SingleStream"
    min_duration_s: float = 1.0
    min_queries: int = 100
    target_qps: float | None = None  # Server; default: half the capacity a short Offline calibration run measures
    latency_bound_ms: float | None = None  # Server p99 bound; default: max(5 x the steady-state p50, 2 ms)
    find_peak: bool = False  # Server: bisect for the highest QPS whose p99 stays under the bound
    peak_steps: int = 6
    samples_per_query: int = 8  # MultiStream
    max_samples: int = 64  # performance sample count of the query sample library

    def __post_init__(self):
        match = {s.lower(): s for s in SCENARIOS}.get(str(self.scenario).lower())
        if match is None:
            raise UserError(f"unknown --scenario '{self.scenario}': one of {', '.join(SCENARIOS)}")
        self.scenario = match

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RealtimeSettings:
    """The whole frame loop after the steady state (worker/frameloop.py): stages, a camera clock, deadlines."""

    preprocess: str | None = None  # a built-in name (worker/pipeline.PREPROCESS) or module:function
    postprocess: str | None = None
    fps: float | None = None  # frames arrive on this clock; None: free-running, back to back
    deadline_ms: float | None = None  # default 1000 / fps
    frames: int = 300  # frames on the clock (or back to back) when not sustained; 300 resolves a 1% miss rate 3x
    fresh: bool = True  # a ring of distinct frames (False: one frame reused)
    background_load: int = 0  # cores of background load during the whole candidate (rigor/background.py)
    sustain_s: float | None = None  # run this long instead of `frames`, with a timeline and a drift check
    sys_path: str | None = None  # where user pre/postprocess modules are imported from (the user's cwd)
    data_source: str | None = None  # what the eval inputs are (real or synthetic), for the row

    def __post_init__(self):
        if self.fps is None and self.deadline_ms:
            self.fps = 1000.0 / self.deadline_ms
        if self.fps and not self.deadline_ms:
            self.deadline_ms = 1000.0 / self.fps

    def to_dict(self) -> dict:
        return asdict(self)

    def expected_s(self) -> float:
        """How long the frame loop should take, for the worker's timeout."""
        if self.sustain_s:
            return self.sustain_s
        return self.frames / self.fps if self.fps else 0.0


# Where a field goes. PUBLIC: the row, the store and --json; STORED: the row and the store only; None: the result only.
PUBLIC, STORED = "public", "stored"
# How a worker's field reaches the row. ALWAYS: copied, None when the worker did not write it; PRESENT: copied only
# when written (an optional phase or rigor pass); READ: the sweep reads it and sets the row's own (or drops it).
# SWEEP: not in a worker's result; the parent sets it on the row.
ALWAYS, PRESENT, READ, SWEEP = "always", "present", "read", "sweep"


@dataclass(frozen=True)
class Column:
    """A column of the candidate table (show --wide, Markdown, HTML) for a figure (an int or float field): its
    header with the unit and its format; the column follows the standard ones (report/columns.py)."""

    label: str
    fmt: str
    scale: float = 1.0  # e.g. 100 for a fraction shown as %


@dataclass(frozen=True)
class Field:
    name: str
    type: Any  # of a value that is not None (None always means "not measured")
    unit: str  # "" when the value has none, or is a record whose parts carry their own
    meaning: str
    copy: str  # ALWAYS | PRESENT | READ | SWEEP
    row: str | None  # PUBLIC | STORED | None
    column: Column | None = None


def measured(name, type_, unit, meaning, *, stored=False, column=None) -> Field:
    """A figure the worker (or its launcher) writes and the row keeps, None when not measured."""
    return Field(name, type_, unit, meaning, ALWAYS, STORED if stored else PUBLIC, column)


def extra(name, type_, unit, meaning, *, column=None) -> Field:
    """A record an optional phase or rigor pass writes into the result: in the row only when it ran."""
    return Field(name, type_, unit, meaning, PRESENT, PUBLIC, column)


def swept(name, type_, unit, meaning, *, stored=False) -> Field:
    """A field the parent sets on the row (conversion, checks, selection passes): never in a worker's result."""
    return Field(name, type_, unit, meaning, SWEEP, STORED if stored else PUBLIC)


def read(name, type_, unit, meaning, *, row=None) -> Field:
    """In the worker's result for the parent to read; `row`: the row has a field of that name the sweep sets."""
    return Field(name, type_, unit, meaning, READ, row)


# The one list. Its order is the JSON order of a candidate (schema edgepick.run/1): keep new fields where they read best.
FIELDS: tuple[Field, ...] = (
    swept("key", str, "", "runtime/precision-or-compression/tN/bN"),
    swept("runtime", str, "", "the runtime's registry name"),
    swept("precision", str, "", "fp32, bf16, fp16, int8, ..."),
    swept("threads", int, "threads", "the runtime's intra-op threads"),
    swept("batch", int, "items", "items per call"),
    read("status", str, "", "ok | failed | disagrees | pruned (sweep/search.py)", row=PUBLIC),
    read("reason_class", str, "", "core/errors.py's reason classes", row=PUBLIC),
    read("reason", str, "", "why it failed, one line", row=PUBLIC),
    measured("latency_ms", dict, "ms", "the steady state: p50, p90, p99, mean, cv, robust_cv, p50_ci95, ..."),
    measured("load_s", float, "s", "the runtime's load(): parse, build, compile ahead of time"),
    measured("import_s", float, "s", "importing the runtime's framework in a fresh process"),
    measured("compile_s", float, "s", "a lazy compiler's build on its first call (torch.compile)"),
    measured("first_inference_ms", float, "ms", "the first call after load"),
    measured("throughput_per_s", float, "items/s", "batch x calls / steady-state seconds"),
    measured("peak_rss_mb", float, "MiB", "the worker's peak resident memory (VmHWM)"),
    swept("rss_above_baseline_mb", float, "MiB", "peak RSS above the worker's RSS before the runtime was imported"),
    swept("size_mb", float, "MiB", "the artifact on disk"),
    swept("equivalence", dict, "", "max_abs_err, max_rel_err, cosine, top1_agreement against the reference"),
    swept("accuracy", float, "fraction", "top-1 accuracy on the labelled eval inputs"),
    swept("conversion", list, "s", "the converter steps and their seconds"),
    swept("cores", list, "", "the cores the worker was pinned to"),
    measured("memory_cap", dict, "MiB", "the launcher's memory cap: limit and mechanism"),
    swept("artifact", dict, "", "the measured artifact: format and path"),
    measured("runtime_details", dict, "", "what the runtime verified at load, e.g. LiteRT's XNNPACK delegate"),
    extra("energy", dict, "mJ", "energy per inference (measured or an estimate, said in its kind), sensors"),
    swept("roofline", dict, "GFLOP/s", "achieved GFLOP/s and % of the machine's measured peak"),
    extra("noise", dict, "", "machine load before/after the worker, warnings, whether re-measured longer"),
    extra("loadgen", dict, "", "an MLPerf LoadGen scenario's verdict and metric"),
    extra("op_profile", dict, "ms", "the runtime's own per-op profile, by op family"),
    extra("cold_start", dict, "s", "fresh-process repeats to the first answer, per phase"),
    swept("interleaved", dict, "ms", "A B A B windows against the pick, and their verdict"),
    swept("compression", dict, "", "the compression pass, its options, calibration set, flags"),
    swept("metric", dict, "", "the accuracy metric of a compressed row and its drop"),
    measured("realtime", dict, "ms", "the frame loop: stages, deadlines at --fps, background load"),
    swept("precision_support", dict, "", "a BF16/FP16 row's support here (native, or predicted slower)"),
    read("device", dict, "", "the fleet device that measured it: name and fingerprint; null = here", row=PUBLIC),
    swept("notes", list, "", "how the row got its verdict where not by the plain rule"),
    measured("probe", dict, "ms", "the search's short first window and its verdict against the best probe"),
    swept("prediction", dict, "", "what the store's history predicted for this row, and whether it held"),
    # kept with the row in the store, not in --json
    measured("latency_samples_ms", list, "ms", "the steady-state samples (their own database column)", stored=True),
    measured("baseline_rss_mb", float, "MiB", "the worker's RSS before the runtime was imported", stored=True),
    measured("warmup_calls", int, "calls", "calls before the steady state", stored=True),
    measured("worker_wall_s", float, "s", "the worker process's wall time", stored=True),
    swept("worker_job", dict, "", "what repeats and interleaved windows need to re-launch the candidate", stored=True),
    swept("repeat_failures", list, "", "fresh-process windows that failed after the first succeeded", stored=True),
    # the result's bookkeeping: read by the parent, never a row field
    read("phase", str, "", "the phase running, so a crash or a kill says where"),
    read("pid", int, "", "the worker's process id"),
    read("affinity", list, "", "the cores the worker runs on"),
    read("traceback", str, "", "the tail of an unexpected exception's traceback"),
    read("load_before", dict, "", "a device's machine load before its worker (rigor/run.py reads it into noise)"),
    read("load_after", dict, "", "a device's machine load after its worker"),
    read("remeasured", dict, "", "the worker re-measured an unsteady steady state longer (rigor/run.py: into noise)"),
    read("measured_at_unix", float, "s", "when a device measured it"),
    read("device_name", str, "", "the device's name"),
    read("device_job", dict, "", "the job as the device ran it (its cores)"),
    read("device_fingerprint", dict, "", "the device's fingerprint (launch/ray_device.py folds it into device)"),
    read("outputs_npz", bytes, "", "a device's eval outputs, written to outputs.npz on the head"),
    read("worker_log", str, "", "the tail of a device worker's log"),
)


class ContractError(AssertionError):
    """A worker's result that the contract does not describe: a field nobody declared, or a value of the wrong type.
    An AssertionError, not a UserError or a CandidateFailure: it is edgepick's own bug, never the user's or the model's."""


def declared() -> dict[str, Field]:
    return {f.name: f for f in FIELDS}


def row_fields(where: str) -> tuple[str, ...]:
    """The row's fields that go to `where` (PUBLIC, STORED), in declared order."""
    return tuple(f.name for f in FIELDS if f.row == where)


def columns() -> list[tuple[str, Field]]:
    """The declared table columns, in declared order."""
    return [(f.column.label, f) for f in FIELDS if f.column]


def _type_ok(value, type_) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):  # an int to isinstance, never a count or a figure
        return type_ is bool
    if type_ is float:  # a figure may come as an int (a launcher's 0, a whole number of MiB)
        return isinstance(value, (int, float))
    return isinstance(value, type_)


def problems(result: dict) -> list[str]:
    """What in a worker's result the contract does not describe, one line each (empty: it conforms)."""
    fields = declared()
    out = []
    for name, value in result.items():
        f = fields.get(name)
        if f is None or f.copy == SWEEP:
            out.append(f"'{name}' is not a field a worker's result may carry (declare it in core/job.py FIELDS)")
        elif not _type_ok(value, f.type):
            out.append(f"'{name}' is {type(value).__name__}, declared {getattr(f.type, '__name__', f.type)}")
    return out


def strict() -> bool:
    return os.environ.get("EDGEPICK_STRICT_CONTRACT") == "1"


def check_result(result: dict) -> None:
    """Raise ContractError under EDGEPICK_STRICT_CONTRACT=1, else warn: a field the contract misses is never dropped
    without a word."""
    found = problems(result)
    if found and strict():
        raise ContractError("; ".join(found))
    for line in found:
        warnings.warn(f"worker result: {line}", stacklevel=2)


def copy_measured(row: dict, result: dict) -> None:
    """The worker's figures into the row, as FIELDS says: ALWAYS ones (None when absent), PRESENT ones when there."""
    check_result(result)
    for f in FIELDS:
        if f.copy == ALWAYS or (f.copy == PRESENT and result.get(f.name) is not None):
            row[f.name] = result.get(f.name)
