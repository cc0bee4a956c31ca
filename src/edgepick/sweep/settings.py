"""The settings of one run: one typed object made of small parts, each validating its own values where it is defined.

    Settings
      model, db_url, force       what to load and where to store it
      workload: Workload         what to measure: runtimes, threads, batches, inputs, data, precisions, tolerance
      time: Timing               the timing policy and the hard timeouts
      selection: Selection       budget and objective (selection only: not in the resumable-run key)
      target: Target             where: device profile, platform, cores, memory cap, fleet devices
      rigor: Rigor               LoadGen scenario, per-op profile, cold starts, interleaving, repeats, real time
      compression: Compression   the compression axis: methods, accuracy drop, metric, calibration, training data
      search: Search             prune by probes (the default) or measure everything (--exhaustive); history

A wrong value fails when its part is built (or a field is set), before any work, with one UserError line (exit 2).
`Settings.of(model, **options)` takes the flat option names (`threads=[1]`, `budget="p90<=15ms"`, ...) that
`edgepick.pick()` and older callers use; the CLI builds the same object through the same function.

Plain dataclasses, not pydantic: every value already has its parser in the module that owns it (TimingPolicy,
Tolerance, select/budget.py, plan/precision.py, compress/plan.py), each raising edgepick's one-line UserError with the
option's name and an example. pydantic would wrap those in its multi-line ValidationError, which the CLI would then
have to unwrap, and it would become a core dependency of `import edgepick` for no check we do not already have.

Flat reads (`settings.threads`) resolve through FLAT for callers of the Python API and for tests; edgepick's own
modules read the part (`settings.workload.threads`), so each read names the part that validated it.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from edgepick.core.errors import UserError
from edgepick.core.job import TimingPolicy


def _default_threads() -> list[int]:
    return [min(2, len(os.sched_getaffinity(0)))]


def _tolerance():
    from edgepick.measure.equivalence import Tolerance

    return Tolerance()


@dataclass
class Workload:
    """What to measure: which runtimes, threads and batches, on which inputs and data, in which precisions."""

    runtimes: list[str] | None = None
    threads: list[int] = field(default_factory=_default_threads)
    batches: list[int] = field(default_factory=lambda: [1])
    input_shape: str | None = None
    input_values: Any = None  # fixed input values: {"sr": 16000}, "sr=16000" or ["sr=16000", ...] (inputs/signature.py)
    no_batch_axis: bool = False  # the first dims are not a batch (x [T, F]): one whole input set per call, batch 1
    precisions: Any = None  # "fp32,bf16" or a list; None: FP32 plus the reduced precisions this CPU has natively
    data: Any = None
    data_limit: int = 512
    tolerance: Any = field(default_factory=_tolerance)  # measure/equivalence.Tolerance
    trust_pickle: bool = False

    def __post_init__(self) -> None:
        for value in [*self.threads, *self.batches]:
            if value < 1:
                raise UserError("--threads and --batch take positive integers, e.g. --threads 1,2 --batch 1,8")
        if self.data_limit < 1:
            raise UserError(f"--data-limit {self.data_limit}: give a positive number of samples, e.g. 512")
        from edgepick.plan.precision import parse_precisions

        parse_precisions(self.precisions)


@dataclass
class Timing:
    """How long to measure (the TimingPolicy) and the hard timeouts of candidate and step workers."""

    policy: TimingPolicy = field(default_factory=TimingPolicy)  # the job's contract (core/job.py)
    timeout_s: float = 300.0
    step_timeout_s: float | None = None  # load/inputs/reference/conversion/compression workers; default timeout_s

    def __post_init__(self) -> None:
        if not _positive_seconds(self.timeout_s):
            raise UserError(f"--timeout {self.timeout_s}: give a positive number of seconds per candidate, e.g. --timeout 300")
        if self.step_timeout_s is not None and not _positive_seconds(self.step_timeout_s):
            raise UserError(f"--step-timeout {self.step_timeout_s}: give a positive number of seconds per step, "
                            "e.g. --step-timeout 600")


def _positive_seconds(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


@dataclass
class Selection:
    """How the pick is made: --budget constraints and the --optimize objective (selection only: not in the run key)."""

    budget: str | None = None  # "p90<=15ms,mem<=300MB,..." (select/budget.py)
    optimize: str | None = None  # "latency" or weights "latency=0.7,size=0.3"

    def __post_init__(self) -> None:
        from edgepick.select.budget import parse_budget, parse_objective

        parse_budget(self.budget), parse_objective(self.optimize)

    def to_dict(self, device: dict | None) -> dict:
        """What selection needs, as stored in the run so `show` and `report` re-derive the same pick."""
        return {"budget": self.budget, "optimize": self.optimize, "device": device}


MEMORY_MECHANISMS = ("auto", "cgroup-v2", "rss-watchdog", "rlimit-as")


@dataclass
class Target:
    """Where to measure: the device profile, the platform to deploy on, cores, the memory cap, fleet devices."""

    device: dict | None = None  # a DeviceProfile.to_dict(); its cores/threads/memory cap are applied by apply_device
    platform: str | None = None  # "android-arm64": runtimes the capability matrix rules out become 'platform' rows
    cores: list[int] | None = None
    memory_limit: int | None = None
    memory_mechanism: str = "auto"
    on: str | None = None  # measure on these devices of a Ray cluster: "dev-a,dev-b" or "class=pi5" (sweep/fleet.py)
    cluster: str | None = None  # the Ray head's HOST:PORT for --on (default RAY_ADDRESS or `edgepick cluster start`'s)
    step_memory_limit: int | None = None  # the steps' memory cap; default memory_limit (launch/isolated.step_limits)

    def __post_init__(self) -> None:
        from edgepick.inputs.validate import check_cores

        if self.step_memory_limit is not None and self.step_memory_limit <= 0:
            raise UserError("--step-memory-limit must be positive, e.g. 2GB")

        check_cores(self.cores)
        if self.memory_limit is not None and self.memory_limit <= 0:
            raise UserError("--memory-limit must be positive, e.g. 512MB")
        if self.memory_mechanism not in MEMORY_MECHANISMS:
            raise UserError(f"bad --memory-mechanism '{self.memory_mechanism}': auto, cgroup-v2, rss-watchdog or rlimit-as")
        if self.platform:
            from edgepick.plan.capabilities import parse_platform

            parse_platform(self.platform)


@dataclass
class Rigor:
    """Measurement rigor beyond the steady state: LoadGen, per-op profile, cold starts, interleaving, repeats, frames."""

    scenario: dict | None = None  # core/job.LoadGenSettings.to_dict(): an MLPerf scenario after the steady state
    profile_runs: int = 0  # per-op profile over this many inferences (worker/profile.py); 0 = off
    cold_start: int = 0  # fresh-process cold starts per candidate (rigor/coldstart.py); 0 = off
    noise_retry: bool = True  # re-measure a noisy row once with a longer steady state (measure/noise.py)
    interleave: int = 0  # A B A B rounds between the pick and candidates tied with it; 0 = off
    repeats: int = 1  # fresh-process windows per ok candidate; >1 gives a between-process CI (rigor/repeats.py)
    realtime: dict | None = None  # core/job.RealtimeSettings.to_dict(): frame loop, deadlines, load

    def __post_init__(self) -> None:
        for name, value in (("--profile-ops", self.profile_runs), ("--cold-start", self.cold_start),
                            ("--interleave", self.interleave)):
            if value < 0:
                raise UserError(f"{name} takes a count >= 0 (0 turns it off)")
        if self.repeats < 1:
            raise UserError("--repeats takes a count >= 1 (1: one process per candidate)")

    def key(self) -> dict | None:
        """What of these settings changes the measurements, for the resumable-run key (None when all are off)."""
        described = {"scenario": self.scenario, "profile_runs": self.profile_runs, "cold_start": self.cold_start,
                     "interleave": self.interleave, "repeats": self.repeats if self.repeats > 1 else 0}
        return described if any(described.values()) else None


@dataclass
class Compression:
    """The compression axis (compress/plan.py); max_acc_drop and metric also judge BF16/FP16 rows (plan/precision.py)."""

    compressions: list[str] | None = None  # e.g. ["int8-dynamic", "int8-static", "fp16", "prune"]
    max_acc_drop: str | None = None  # "1%" relative (the default) or "0.01abs"; compressed rows must stay within it
    metric: str | None = None  # top1 | top5 | cosine | mse | module:function (default top1 with labels, else cosine)
    calib: Any = None  # calibration data (same forms as data); default a fixed-seed subset of the eval data
    calib_size: int = 128
    train_data: Any = None  # for pruning's fine-tuning and distillation; zoo models bring their own train split

    def __post_init__(self) -> None:
        _check_drop(self.max_acc_drop)
        if self.calib_size < 1:
            raise UserError("--calib-size takes a positive number of samples, e.g. 128")
        if self.compressions:
            from edgepick.compress.plan import expand

            expand(self.compressions)  # an unknown name stops here, before any work


def _check_drop(text) -> None:
    if text is None:
        return
    from edgepick.compress.metrics import parse_drop

    tol = parse_drop(text)
    if tol.relative and not 0 <= tol.value <= 1:
        raise UserError(f"--max-acc-drop {text}: a relative drop lies between 0% and 100%, e.g. 1%")
    if not tol.relative and not (tol.value >= 0 and math.isfinite(tol.value)):
        raise UserError(f"--max-acc-drop {text}: an absolute drop is a non-negative number of metric points, e.g. 0.01abs")


@dataclass
class Search:
    """How much to measure (sweep/search.py): every candidate probed, only the contenders measured in full; or
    everything measured in full (--exhaustive, the behaviour before issue 23)."""

    # True: --exhaustive. False: prune even where the steady state is as short as the probe (tests of the search).
    # None (the default): prune, unless the steady state is as short as the probe and pruning would save nothing.
    exhaustive: bool | None = None
    trust_history: bool = False  # skip candidates the store's history predicts to lose (never on history alone else)

    def __post_init__(self) -> None:
        if self.exhaustive is True and self.trust_history:
            raise UserError("--trust-history skips candidates and --exhaustive measures all of them: give one")

    def key(self) -> dict | None:
        """For the resumable-run key: None for --exhaustive, so its runs are keyed as every run before the search."""
        return None if self.exhaustive is True else {"search": "race-v1", "trust_history": self.trust_history}


_PARTS = {"workload": Workload, "time": Timing, "selection": Selection, "target": Target, "rigor": Rigor,
          "compression": Compression, "search": Search}
# flat option name -> (part, field): what Settings.of() takes and what flat reads resolve to
FLAT = {f.name: (part, f.name) for part, cls in _PARTS.items() for f in dataclasses.fields(cls)}
FLAT["timing"] = FLAT.pop("policy")


@dataclass
class Settings:
    """One run's settings. Build it with Settings.of(model, **flat options) or from its parts."""

    model: Any
    workload: Workload = field(default_factory=Workload)
    time: Timing = field(default_factory=Timing)
    selection: Selection = field(default_factory=Selection)
    target: Target = field(default_factory=Target)
    rigor: Rigor = field(default_factory=Rigor)
    compression: Compression = field(default_factory=Compression)
    search: Search = field(default_factory=Search)
    db_url: str | None = None
    force: bool = False

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """The rules that span two parts: threads against the cores they run on."""
        from edgepick.inputs.validate import check_threads

        check_threads(self.workload.threads, self.target.cores)

    @classmethod
    def of(cls, model, **options) -> Settings:
        """From the flat option names (edgepick.pick(), tests, benchmarks); an unknown name is a UserError."""
        top = {k: options.pop(k) for k in ("db_url", "force") if k in options}
        unknown = sorted(set(options) - set(FLAT))
        if unknown:
            raise UserError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted([*FLAT, 'db_url', 'force']))}")
        parts: dict[str, dict] = {name: {} for name in _PARTS}
        for name, value in options.items():
            part, attr = FLAT[name]
            parts[part][attr] = value
        return cls(model, **{name: _PARTS[name](**values) for name, values in parts.items()}, **top)

    def replace(self, part: str, **values) -> Settings:
        """A copy with some fields of one part changed (validated again)."""
        return dataclasses.replace(self, **{part: dataclasses.replace(getattr(self, part), **values)})

    def selection_settings(self) -> dict:
        return self.selection.to_dict(self.target.device)

    def __getattr__(self, name: str):
        if name in FLAT:  # only reached when normal lookup fails: a flat name of a part's field
            part, attr = FLAT[name]
            return getattr(getattr(self, part), attr)
        raise AttributeError(f"{type(self).__name__} has no setting {name!r}")

    def __setattr__(self, name: str, value) -> None:
        if name in FLAT:  # a flat write lands in its part, which validates the new value
            part, attr = FLAT[name]
            setattr(getattr(self, part), attr, value)
            getattr(self, part).__post_init__()
            return
        super().__setattr__(name, value)


def build(model, device=None, **options) -> Settings:
    """Settings from flat options plus a device profile (a built-in name, a YAML path, a DeviceProfile or its dict),
    as both the CLI and edgepick.pick() take them: the profile's cores, threads, memory cap and platform apply where
    the options leave them unset (explicit threads/memory_limit/platform win)."""
    if device is None or isinstance(device, dict):
        return Settings.of(model, device=device, **options)
    from edgepick.plan.devices import DeviceProfile, apply_to_request, load_device

    settings = Settings.of(model, **options)
    profile = device if isinstance(device, DeviceProfile) else load_device(str(device))
    apply_to_request(profile, settings, "threads" in options, "memory_limit" in options)
    settings.check()
    return settings
