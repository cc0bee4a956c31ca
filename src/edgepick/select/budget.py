"""The budget and the objective, parsed strictly from what users type.

    --budget "p90<=15ms,mem<=300MB,size<=10MB,acc_drop<=1%,throughput>=100/s"
    --optimize latency | throughput | memory | size | accuracy | latency=0.7,size=0.3

Every clause is optional, but each one that is given must name a known metric, the one sensible direction for it
and an explicit unit: "p90<=15" is refused because 15 what? A mistake is a UserError (one line, exit code 2).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from edgepick.core.errors import UserError
from edgepick.core.units import parse_size

_LATENCY_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
_TIME_UNITS_S = {"ms": 1e-3, "s": 1.0}


@dataclass(frozen=True)
class Metric:
    name: str
    op: str  # the only direction that makes sense for it
    unit_help: str
    description: str


METRICS = {m.name: m for m in (
    Metric("p50", "<=", "ms, us or s", "median latency per call"),
    Metric("p90", "<=", "ms, us or s", "90th percentile latency per call"),
    Metric("p99", "<=", "ms, us or s", "99th percentile latency per call"),
    Metric("mean", "<=", "ms, us or s", "mean latency per call"),
    Metric("mem", "<=", "B, KB, MB, GB, KiB, MiB or GiB", "peak resident memory of the worker"),
    Metric("size", "<=", "B, KB, MB, GB, KiB, MiB or GiB", "artifact size on disk"),
    Metric("acc_drop", "<=", "% (percentage points)", "top-1 accuracy lost against the reference"),
    Metric("acc", ">=", "%", "top-1 accuracy on the eval data"),
    Metric("throughput", ">=", "/s (items per second)", "items per second in the steady state"),
    Metric("load", "<=", "ms or s", "model load time"),
    Metric("miss", "<=", "% (of frames)", "deadline-miss rate at --fps/--deadline: late + dropped frames"),
)}

_CLAUSE = re.compile(r"^\s*([a-z_0-9]+)\s*(<=|>=|<|>|==|=)\s*(.*?)\s*$", re.IGNORECASE)
_NUMBER_UNIT = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([a-z%/]+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    metric: str
    op: str
    value: float  # in the canonical unit: ms, MiB, percentage points / percent, items/s, seconds
    text: str  # as the user wrote it, normalised ("p90<=15ms")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Budget:
    clauses: tuple[Clause, ...] = ()

    @property
    def text(self) -> str:
        return ",".join(c.text for c in self.clauses)

    def get(self, metric: str) -> Clause | None:
        return next((c for c in self.clauses if c.metric == metric), None)

    def __bool__(self) -> bool:
        return bool(self.clauses)


def parse_budget(text: str | None) -> Budget:
    if text is None or not text.strip():
        return Budget()
    clauses: list[Clause] = []
    for part in text.split(","):
        if not part.strip():
            raise UserError(f"bad --budget '{text}': an empty clause (two commas in a row?)")
        clause = _parse_clause(part, text)
        if any(c.metric == clause.metric for c in clauses):
            raise UserError(f"bad --budget '{text}': '{clause.metric}' is given twice")
        clauses.append(clause)
    return Budget(tuple(clauses))


def _parse_clause(part: str, whole: str) -> Clause:
    m = _CLAUSE.match(part)
    known = ", ".join(METRICS)
    if not m:
        raise UserError(f"bad --budget clause '{part.strip()}': write metric<=value with a unit, e.g. p90<=15ms "
                        f"(metrics: {known})")
    name, op, raw = m.group(1).lower(), m.group(2), m.group(3)
    metric = METRICS.get(name)
    if metric is None:
        raise UserError(f"bad --budget clause '{part.strip()}': unknown metric '{name}' (known: {known})")
    if op != metric.op:
        raise UserError(f"bad --budget clause '{part.strip()}': {name} takes '{metric.op}' ({metric.description}), "
                        f"e.g. {name}{metric.op}{_example(name)}")
    value = _value(name, raw, part.strip())
    return Clause(name, op, value, f"{name}{op}{raw.replace(' ', '')}")


def _value(name: str, raw: str, part: str) -> float:
    metric = METRICS[name]
    bad = UserError(f"bad --budget clause '{part}': give a number and a unit ({metric.unit_help}), "
                    f"e.g. {name}{metric.op}{_example(name)}")
    if name in ("mem", "size"):
        try:
            return parse_size(raw, f"--budget {name}") / 2**20  # MiB, the unit rows are recorded in
        except UserError:
            raise bad from None
    m = _NUMBER_UNIT.match(raw)
    if not m:
        raise bad
    number, unit = float(m.group(1)), m.group(2).lower()
    if name in ("p50", "p90", "p99", "mean") and unit in _LATENCY_UNITS:
        value = number * _LATENCY_UNITS[unit]
    elif name == "load" and unit in _TIME_UNITS_S:
        value = number * _TIME_UNITS_S[unit]
    elif name in ("acc_drop", "acc") and unit == "%":
        if number > 100:
            raise UserError(f"bad --budget clause '{part}': a percentage above 100")
        value = number
    elif name == "throughput" and unit == "/s":
        value = number
    elif name == "miss" and unit == "%":
        if number > 100:
            raise UserError(f"bad --budget clause '{part}': a percentage above 100")
        value = number
    else:
        raise bad
    if value <= 0 and name not in ("acc_drop", "miss"):  # miss<=0% is a hard real-time budget: no frame may miss
        raise UserError(f"bad --budget clause '{part}': must be positive")
    return value


def _example(name: str) -> str:
    return {"mem": "300MB", "size": "10MB", "acc_drop": "1%", "acc": "95%", "throughput": "100/s",
            "load": "2s", "miss": "1%"}.get(name, "15ms")


# --- the objective ---------------------------------------------------------------------------------------------

OBJECTIVES = {  # name -> (what it ranks, lower is better?)
    "latency": ("p50 latency", True),
    "throughput": ("items per second", False),
    "memory": ("peak RSS", True),
    "size": ("artifact size", True),
    "accuracy": ("top-1 accuracy", False),
}


def parse_objective(text: str | None) -> dict[str, float]:
    """'latency' -> {'latency': 1.0}; 'latency=0.7,size=0.3' -> weights, normalised to sum to 1."""
    if text is None or not text.strip():
        return {"latency": 1.0}
    text = text.strip()
    known = ", ".join(OBJECTIVES)
    if "=" not in text:
        if text.lower() not in OBJECTIVES:
            raise UserError(f"bad --optimize '{text}': one of {known}, or weights such as latency=0.7,size=0.3")
        return {text.lower(): 1.0}
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, raw = part.partition("=")
        name = name.strip().lower()
        if not sep or name not in OBJECTIVES:
            raise UserError(f"bad --optimize '{text}': '{part.strip()}' is not name=weight with a name among {known}")
        try:
            weight = float(raw)
        except ValueError:
            raise UserError(f"bad --optimize '{text}': weight '{raw.strip()}' of {name} is not a number") from None
        if weight < 0 or weight != weight:
            raise UserError(f"bad --optimize '{text}': weights must be zero or positive")
        if name in weights:
            raise UserError(f"bad --optimize '{text}': '{name}' is given twice")
        weights[name] = weight
    total = sum(weights.values())
    if total <= 0:
        raise UserError(f"bad --optimize '{text}': at least one weight must be positive")
    return {k: v / total for k, v in weights.items() if v > 0}


def objective_text(weights: dict[str, float]) -> str:
    if len(weights) == 1:
        return next(iter(weights))
    return ",".join(f"{k}={v:g}" for k, v in weights.items())
