"""The race the search runs (sweep/search.py): the bar each candidate's probe is held to, and when it prunes.

The rule is racing with confidence bounds (Maron & Moore 1994, "Hoeffding races"; Birattari et al. 2002, F-Race):
a candidate is out when the lower bound of its probe median's 95% CI lies above the bar, the best probe's upper
bound so far times MARGIN (worker/latency.clearly_slower). Only a row that agrees with the reference sets a bar,
and it must still agree when the run ends: the verdicts across precisions (measure/verdicts.py) can fail a
BF16/FP16 row that passed on its own when its FP32 copy disagrees (the copy, not the precision, differs). So each
row is recorded with its runtime's rows reconciled at once, the bars are drawn again from the rows that stand, and
a row pruned against a bar that fell is measured again (measure_fallen()): a copy found wrong never prunes a right one.

No row is measured in full before a bar exists at its batch size: a candidate probed while none does (the first
runtime's, or its group's) is `deferred` when others of its batch size are still to come (expect()), its probe
taking the two windows a pruning needs, and is judged after the loop against the bar the race ends with (finish()):
pruned by the probe's own rule, or measured in full then. Before, the first runtime was measured in full and, where
its median moved, re-measured, however far it ended from the best (ONNX Runtime on the demo: 14 s of 87, 3.9x the
pick). A candidate history calls the likely best (LIKELY_BEST) is measured in full at once, as before: deferring a
winner only costs it a second process.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from edgepick.core import errors
from edgepick.core.job import PROBE_POLICY
from edgepick.core.rows import CandidateRow
from edgepick.measure.verdicts import reconcile
from edgepick.plan.planner import Candidate
from edgepick.worker.latency import judged_slower, pruned_by

MARGIN = 1.3  # above the CIs' own width: a probe's median may sit a little off the steady state's (short warm-up)
DEADLINE_FACTOR = 10
DEADLINE_FLOOR_S = 60.0  # a lazy compiler (torch.compile: 18 s here) or a slow import must still reach its probe
LIKELY_BEST = 1.05  # history's ratio to the best at or under which a candidate is never deferred
DEFERRED = "probed before any bar existed, so judged against the race's last bar"


def stands_aside(request) -> str | None:
    """Why the search measures every row in full for this request, or None when it prunes."""
    if request.search.exhaustive:
        return "--exhaustive"
    policy = request.time.policy
    if request.search.exhaustive is None and policy.min_duration_s <= PROBE_POLICY.min_duration_s:
        return f"the steady state ({policy.min_duration_s:g} s) is no longer than the probe: nothing to prune"
    if request.selection.budget or (request.selection.optimize or "latency") != "latency":
        return "the pick is made on more than latency (--budget/--optimize)"
    for why, on in (("--compress", request.compression.compressions), ("real time", request.rigor.realtime)):
        if on:
            return f"{why}: every row is measured in full"
    return None


@dataclass
class _Best:
    p50: float
    upper: float
    key: str
    wall_s: float

    def bar(self) -> dict:
        """The bar the worker's probe is held to (worker/latency.clearly_slower), and the race's end too."""
        return {"best_p50_ms": self.p50, "best_upper_ms": self.upper, "best_key": self.key, "margin": MARGIN}


@dataclass
class Race:
    """The bar per batch size (the pick compares like batches): the agreeing probe with the lowest upper bound."""

    enabled: bool
    best: dict[int, _Best] = field(default_factory=dict)
    deadlines: dict[str, tuple[float, _Best]] = field(default_factory=dict)  # key -> (deadline, the best it came from)
    settled: dict[str, tuple[Candidate, CandidateRow]] = field(default_factory=dict)  # every row recorded, in order
    pending: dict[int, set[str]] = field(default_factory=dict)  # batch -> keys expected and not yet recorded
    likely: set[str] = field(default_factory=set)  # keys history calls the likely best: never deferred
    deferred: dict[str, Candidate] = field(default_factory=dict)  # probed without a bar, judged in finish()

    def expect(self, candidates: list[Candidate], predicted: dict[str, dict]) -> None:
        """The candidates the loop will record, and history's predictions (sweep/history.py)."""
        for c in candidates:
            self.pending.setdefault(c.batch, set()).add(c.key)
        self.likely = {k for k, p in predicted.items() if p["history_ratio"] <= LIKELY_BEST}

    def probe_job(self, cand: Candidate) -> dict | None:
        """What the worker's probe needs (None: no probe, the full measurement as before)."""
        if not self.enabled:
            return None
        best = self.best.get(cand.batch)
        if best and best.key == cand.key:  # a deferred row measured in full: never held to its own probe
            best = None
        bar = best and best.bar()
        if bar is None and self.pending.get(cand.batch, set()) - {cand.key} and cand.key not in self.likely:
            return {"bar": None, "defer": True}
        return {"bar": bar}

    def deadline(self, cand: Candidate, timeout_s: float) -> float:
        """The candidate's worker time: DEADLINE_FACTOR x the best's, within --timeout."""
        best = self.best.get(cand.batch) if self.enabled else None
        return timeout_s if best is None else min(timeout_s, max(DEADLINE_FLOOR_S, DEADLINE_FACTOR * best.wall_s))

    def timeout_for(self, cand: Candidate, timeout_s: float) -> float:
        deadline = self.deadline(cand, timeout_s)
        if deadline < timeout_s:
            self.deadlines[cand.key] = (deadline, self.best[cand.batch])
        return deadline

    def record(self, cand: Candidate, row: CandidateRow) -> list[CandidateRow]:
        """Settle a measured row, its runtime's verdicts across precisions first; returns the earlier rows that
        changed with it (to be saved again): an FP32 row passed beside this one, or rows failed with their FP32
        copy. The bars are then drawn again from the rows that stand."""
        self.settled[cand.key] = (cand, row)
        self.pending.get(cand.batch, set()).discard(cand.key)
        changed = reconcile([r for _, r in self.settled.values()])
        self.settle(cand, row)
        if not changed:
            return []
        for other, again in self.settled.values():
            if again is not row and any(again is c for c in changed):
                self.settle(other, again)  # an FP32 row now agreeing: pruned by its own probe, or a bar
        self.best = {}
        for other, again in self.settled.values():
            self._offer(other, again)
        return [r for r in changed if r is not row]

    def settle(self, cand: Candidate, row: CandidateRow) -> None:
        """A row clearly slower than the best probe becomes `pruned`; an agreeing one may raise the bar."""
        probe = row.get("probe") or {}
        if row["status"] == "ok" and probe.get("pruned"):
            p = probe["pruned"]
            row["status"], row["reason_class"] = "pruned", None
            row["reason"] = (f"probe p50 {p['ratio']:.1f}x the best ({p['best']}); measure it with --exhaustive")
        elif row.get("reason_class") == errors.TIMEOUT and cand.key in self.deadlines and row["status"] != "pruned":
            deadline, best = self.deadlines[cand.key]
            row["status"], row["reason_class"] = "pruned", errors.TIMEOUT
            row["reason"] = (f"probe ran past its deadline of {deadline:.0f} s ({DEADLINE_FACTOR}x "
                             f"the best's {best.wall_s:.1f} s in its worker); measure it with --exhaustive")
        else:
            if row["status"] == "ok" and probe.get("deferred"):
                self.deferred[cand.key] = cand
            self._offer(cand, row)

    def _offer(self, cand: Candidate, row: CandidateRow) -> None:
        lat = (row.get("probe") or {}).get("latency_ms")
        if row["status"] == "ok" and lat:
            best = self.best.get(cand.batch)
            if best is None or lat["p50_ci95"][1] < best.upper:
                self.best[cand.batch] = _Best(lat["p50"], lat["p50_ci95"][1], cand.key, row.get("worker_wall_s") or 0.0)

    def stale(self) -> list[tuple[Candidate, str]]:
        """The pruned rows whose bar fell after they were pruned (the row that set it fails now), with that row's
        key: to be measured again against the bars that stand."""
        # a bar stands while its row agrees: measured, or pruned since (a deferred row judged slower than a later
        # bar, which is then slower still than what it pruned)
        standing = {key for key, (_, row) in self.settled.items() if row["status"] in ("ok", "pruned")}
        fallen = []
        for key, (cand, row) in self.settled.items():
            if row["status"] != "pruned":
                continue
            bar = ((row.get("probe") or {}).get("pruned") or {}).get("best")
            if bar is None and key in self.deadlines:
                bar = self.deadlines[key][1].key
            if bar and bar not in standing:
                fallen.append((cand, bar))
        return fallen

    def finish(self, measure: Callable[[Candidate], CandidateRow], recorded: Callable[[Candidate, CandidateRow], None],
               together: Callable[[list[Candidate]], None] | None = None) -> None:
        """After the loop: the deferred rows judged against the bars that stand (the clearly slower pruned, the
        contenders measured in full: `together` first launches them a runtime at a time, as the loop does), then the
        rows whose bar fell. `measure` measures a candidate (a fresh worker, probed against the bar first) and
        `recorded` records its row here."""
        contenders = self.judge_deferred(recorded)
        if together and contenders:
            together(contenders)
        for cand in contenders:
            row = measure(cand)
            row.setdefault("notes", []).append(f"{DEFERRED}: a contender, measured in full after the others")
            recorded(cand, row)
        self.measure_fallen(measure, recorded)

    def judge_deferred(self, recorded: Callable[[Candidate, CandidateRow], None]) -> list[Candidate]:
        """Each row probed before any bar existed is pruned when two of its probe's windows that count lie clearly
        above the bar its batch size ends with (worker/latency.judged_slower: the worker's own rule), and handed
        to `recorded`; the others are returned: contenders, to be measured in full."""
        contenders = []
        for key, cand in list(self.deferred.items()):
            del self.deferred[key]
            row, best = self.settled[key][1], self.best.get(cand.batch)
            if row["status"] != "ok":  # its verdicts across precisions failed it since: nothing left to judge
                continue
            bar = best and best.bar()
            if bar and best.key != key and judged_slower(row["probe"]["windows"], bar):
                row["probe"]["pruned"] = pruned_by(row["probe"]["latency_ms"]["p50"], bar)
                row.setdefault("notes", []).append(f"{DEFERRED}: clearly slower")
                recorded(cand, row)
            else:
                contenders.append(cand)
        return contenders

    def measure_fallen(self, measure: Callable[[Candidate], CandidateRow],
                       recorded: Callable[[Candidate, CandidateRow], None]) -> None:
        """After the loop: each row whose bar fell measured again (`measure`), noted so, and handed to `recorded`
        (which records it here), until none is left; bounded, since a row measured again may fail another bar."""
        for _ in range(len(self.settled)):
            fallen = self.stale()
            if not fallen:
                return
            for cand, bar in fallen:
                row = measure(cand)
                gone = self.settled.get(bar)
                why = f"{gone[1]['status']}: {gone[1].get('reason')}" if gone else "gone"
                row.setdefault("notes", []).append(f"measured again: first pruned against {bar}, which fails now ({why})")
                recorded(cand, row)


# A fleet run races on each device apart (sweep/fleet.py): each device thread sets its own Race here.
_DEVICE_RACE: ContextVar[Race | None] = ContextVar("edgepick_device_race", default=None)


def race_here(sw) -> Race | None:
    """The race the measurement in hand belongs to: this device's in a fleet thread, else the local sweep's."""
    return _DEVICE_RACE.get() or sw.race


def device_race(request) -> Race:
    """A new race for one device of a fleet, made current in the calling (device) thread."""
    race = Race(enabled=stands_aside(request) is None)
    _DEVICE_RACE.set(race)
    return race
