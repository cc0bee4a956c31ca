"""Selection with reasons: the feasible set, the Pareto front, the pick, and why every other candidate lost.

With no budget, no device and the default objective this is exactly the core pick: the fastest median among rows
that agree with the reference, at the smallest batch. Budgets, devices and objectives only add filters and change
the ranking; there is one selection path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edgepick.core.rows import metric
from edgepick.select import pareto
from edgepick.select.budget import OBJECTIVES, Budget, objective_text, parse_budget, parse_objective
from edgepick.select.checks import Violation, check


@dataclass
class Selection:
    picked: dict | None
    reasons: dict[str, str]
    feasible: list[str] = field(default_factory=list)
    front: list[str] = field(default_factory=list)  # Pareto front of the feasible set
    front_all: list[str] = field(default_factory=list)  # Pareto front of every competing row that agrees
    verdict: str = ""  # one line: why the pick is the pick, or why there is none
    nearest: dict | None = None  # when nothing is feasible: {key, needs: [...]}
    binding: list[str] = field(default_factory=list)  # when nothing is feasible: the clauses that bind
    clause_counts: dict[str, int] = field(default_factory=dict)  # clause -> competing rows meeting it
    budget: str = ""
    objective: str = "latency"
    device: dict | None = None
    reference_accuracy: float | None = None

    def to_dict(self) -> dict:
        return {"pick": self.picked["key"] if self.picked else None, "verdict": self.verdict,
                "feasible": self.feasible, "pareto_front": self.front, "pareto_front_all": self.front_all,
                "binding": self.binding, "nearest": self.nearest, "clause_counts": self.clause_counts,
                "budget": self.budget or None, "objective": self.objective,
                "device": (self.device or {}).get("name"), "reasons": self.reasons}


def select(rows: list[dict], budget: Budget | None = None, objective: dict[str, float] | None = None,
           device: dict | None = None, reference_accuracy: float | None = None) -> Selection:
    """Rows the capability matrix ruled out for the platform arrive already failed ('platform' rows, plan/planner.py)."""
    budget = budget or Budget()
    objective = objective or {"latency": 1.0}
    sel = Selection(None, {}, budget=budget.text, objective=objective_text(objective), device=device,
                    reference_accuracy=reference_accuracy)
    explained = bool(budget) or device is not None or objective != {"latency": 1.0}
    ok = [r for r in rows if r["status"] == "ok"]
    for r in rows:
        if r["status"] != "ok":
            sel.reasons[r["key"]] = not_ok(r)
    deployable = ok
    if not deployable:
        sel.verdict = "no candidate ran and agreed with the reference"
        return sel
    # Latency compares like with like (one batch size); a throughput objective lets every batch size compete.
    smallest = min(r["batch"] for r in deployable)
    all_batches = "throughput" in objective
    competing = [r for r in deployable if all_batches or r["batch"] == smallest]
    for r in deployable:
        if r not in competing:
            sel.reasons[r["key"]] = f"batch {r['batch']}: compared for throughput, not latency"
    violations = {r["key"]: check(r, budget, device, reference_accuracy) for r in competing}
    feasible = [r for r in competing if not violations[r["key"]]]
    for r in competing:
        if violations[r["key"]]:
            sel.reasons[r["key"]] = "; ".join(v.message for v in violations[r["key"]])
    sel.feasible = [r["key"] for r in feasible]
    sel.front_all = [r["key"] for r in pareto.front(competing)]
    if not feasible:
        _explain_infeasible(sel, competing, violations)
        return sel
    front = pareto.front(feasible)
    sel.front = [r["key"] for r in front]
    best, scores = _rank(feasible, objective)
    sel.picked = best
    for r in feasible:
        if r is not best:
            sel.reasons[r["key"]] = _lost(r, best, objective, scores, front, feasible, explained)
    sel.verdict = _verdict(best, objective, len(feasible), len(competing), budget, device, explained)
    return sel


def _rank(rows: list[dict], objective: dict[str, float]) -> tuple[dict, dict[str, float]]:
    """Weighted sum of min-max normalised metrics (0 = best of the feasible set); ties go to the lower p50."""
    scores = {r["key"]: 0.0 for r in rows}
    for name, weight in objective.items():
        values = {r["key"]: metric(r, name) for r in rows}
        lower = OBJECTIVES[name][1]
        known = [v for v in values.values() if v is not None]
        lo, hi = (min(known), max(known)) if known else (0.0, 0.0)
        for key, v in values.items():
            if v is None:
                norm = 1.0
            elif hi == lo:
                norm = 0.0
            else:
                norm = (v - lo) / (hi - lo) if lower else (hi - v) / (hi - lo)
            scores[key] += weight * norm
    best = min(rows, key=lambda r: (scores[r["key"]], r["latency_ms"]["p50"]))
    return best, scores


_SHOW = {"latency": lambda v: f"p50 {v:.3f} ms", "throughput": lambda v: f"{v:.0f} items/s",
         "memory": lambda v: f"peak RSS {v:.0f} MB", "size": lambda v: f"size {v:.2f} MB",
         "accuracy": lambda v: f"accuracy {v * 100:.2f}%"}


def _lost(r: dict, best: dict, objective: dict, scores: dict, front: list[dict], feasible: list[dict],
          explained: bool) -> str:
    if objective == {"latency": 1.0}:
        p, b = r["latency_ms"]["p50"], best["latency_ms"]["p50"]
        text = f"p50 {p:.3f} ms vs {b:.3f} ms ({p / b:.2f}x slower)" + tie(r, best)
    elif len(objective) == 1:
        name = next(iter(objective))
        mine, theirs = metric(r, name), metric(best, name)
        text = (f"{_SHOW[name](mine)} vs {_SHOW[name](theirs)} (optimising {name})" if mine is not None and
                theirs is not None else f"{name} not measured")
    else:
        text = (f"weighted score {scores[r['key']]:.3f} vs {scores[best['key']]:.3f} "
                f"({objective_text(objective)}; 0 = best of the feasible set on every weighted metric)")
    if not explained:
        return text
    if any(r is f for f in front):
        return f"feasible, on the Pareto front, but {text}"
    dom = pareto.dominated_by(r, feasible)
    return f"feasible but dominated by {dom['key']} (better {', '.join(pareto.better_axes(dom, r))}); {text}"


def _verdict(best: dict, objective: dict, n_feasible: int, n_competing: int, budget: Budget, device: dict | None,
             explained: bool) -> str:
    if not explained:
        return "the fastest median among candidates that agree with the reference"
    what = (f"the best {OBJECTIVES[next(iter(objective))][0]}" if len(objective) == 1
            else f"the best weighted score ({objective_text(objective)})")
    within = []
    if budget:
        within.append(f"budget {budget.text}")
    if device:
        within.append(f"device {device.get('name')}")
    return f"{what} among {n_feasible} of {n_competing} candidates that agree with the reference" + (
        f" and meet the {' and '.join(within)}" if within else "")


def _explain_infeasible(sel: Selection, competing: list[dict], violations: dict[str, list[Violation]]) -> None:
    clauses: dict[str, int] = {}
    for r in competing:
        for v in violations[r["key"]]:
            clauses.setdefault(v.clause, 0)
    for name in clauses:
        clauses[name] = sum(all(v.clause != name for v in violations[r["key"]]) for r in competing)
    sel.clause_counts = clauses
    sel.binding = [c for c, met in clauses.items() if met == 0]
    if not sel.binding:  # each clause alone is met by someone, but never all at once: name the costliest
        freed = {c: sum(all(v.clause == c for v in violations[r["key"]]) for r in competing) for c in clauses}
        sel.binding = [max(freed, key=lambda c: (freed[c], -clauses[c]))]
    nearest = min(competing, key=lambda r: sum(min(v.excess, 1e6) for v in violations[r["key"]]))
    needs = [v.need() for v in violations[nearest["key"]]]
    sel.nearest = {"key": nearest["key"], "needs": needs}
    n = len(competing)
    binds = ", ".join(f"{c} (met by {clauses[c]} of {n})" for c in sel.binding)
    sel.verdict = f"nothing is feasible: {binds} binds; nearest is {nearest['key']}, which would need to {'; '.join(needs)}"


def tie(row: dict, best: dict) -> str:
    from edgepick.measure.noise import ci_of

    (lo, hi), (blo, bhi) = ci_of(row, best)
    text = "; the 95% intervals of the medians overlap: statistically tied" if lo <= bhi and blo <= hi else ""
    inter = row.get("interleaved") or {}  # A B A B windows (measure/noise.py) settle a tie better than two CIs
    if inter.get("rounds") and inter.get("a") == best.get("key"):
        text += (f"; interleaved A-B over {inter['rounds']} rounds: faster in {inter['b_wins']}/{inter['rounds']} "
                 f"(sign test p={inter['sign_test_p']:.2f}): {inter['verdict'].replace('b ', 'this ').replace('a ', 'pick ')}")
    return text


def not_ok(row: dict) -> str:
    if row["status"] == "disagrees":
        cos = (row.get("equivalence") or {}).get("cosine")
        said = f"disagrees with reference (cosine {cos:.5f})" if cos is not None else "disagrees with reference"
        return f"{said}: {row['reason']}"
    if row["status"] == "pruned":  # the search's probe found it clearly slower (sweep/search.py): not a failure
        return f"pruned: {row['reason']}"
    return f"failed ({row['reason_class']}): {row['reason']}"


def select_with(rows: list[dict], settings: dict | None, reference_accuracy: float | None) -> Selection:
    from edgepick.core.rows import pickable  # rows measured under emulation never compete (issue 13)

    settings = settings or {}
    return select(pickable(rows), parse_budget(settings.get("budget")), parse_objective(settings.get("optimize")),
                  settings.get("device"), reference_accuracy)
