"""The Pareto front over latency, accuracy, memory and size: the candidates no other candidate beats on every axis.

A missing figure counts as the worst value on its axis, so a row that could not report memory never dominates
one that could.
"""

from __future__ import annotations

import math

from edgepick.core.rows import METRICS

# (axis, how to read it from a row, lower is better?), from the one table of row metrics (core/rows.py)
AXES = tuple((name, METRICS[name].read, METRICS[name].lower_is_better) for name in ("latency", "accuracy", "memory", "size"))


def costs(row: dict) -> tuple[float, ...]:
    """All axes as costs to minimise (accuracy negated), missing values as +inf."""
    out = []
    for _, read, lower in AXES:
        value = read(row)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(math.inf)
        else:
            out.append(value if lower else -value)
    return tuple(out)


def dominates(a: dict, b: dict) -> bool:
    ca, cb = costs(a), costs(b)
    return all(x <= y for x, y in zip(ca, cb)) and any(x < y for x, y in zip(ca, cb))


def front(rows: list[dict]) -> list[dict]:
    """The non-dominated rows, in the order given."""
    return [r for r in rows if not any(dominates(o, r) for o in rows if o is not r)]


def dominated_by(row: dict, rows: list[dict]) -> dict | None:
    """One row that dominates `row` (the fastest such), or None."""
    better = [o for o in rows if o is not row and dominates(o, row)]
    return min(better, key=lambda o: costs(o)[0]) if better else None


def better_axes(a: dict, b: dict) -> list[str]:
    """The axes on which `a` is strictly better than `b`."""
    return [name for (name, _, _), x, y in zip(AXES, costs(a), costs(b)) if x < y]
