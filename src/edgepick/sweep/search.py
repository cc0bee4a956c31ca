"""The search (issue 23): every candidate is probed, only the contenders are measured in full.

The rule is racing with confidence bounds (sweep/racing.py): each candidate's worker loads it, times a short
probe (worker/latency.probe) and compares the lower bound of its probe median's 95% CI with the best agreeing
probe's upper bound so far times a margin. A candidate clearly slower stops there: its eval outputs are still checked against the reference
(a disagreeing row stays `disagrees`), its probe figures become the row's, and its status is `pruned`. Any other
candidate goes on, in the same process, to the full steady state, so a contender pays only the probe's second.
It is one rung of successive halving (Karnin et al. 2013) with the cut set by confidence bounds, not by a fraction:
a cut by count would drop a contender whenever many are alike.

Candidates are measured likely winners first (the store's history on this CPU, else a fixed prior), so the bar is
set early; rows come back in plan order. Conversions run ahead, in parallel over the allowed cores, since no timing
runs beside them. A candidate far slower than the best never runs into the full --timeout: its worker has a deadline
of DEADLINE_FACTOR x the best candidate's whole worker time (at least DEADLINE_FLOOR_S). A runtime's configurations
of one artifact (batch sizes, precisions) are measured in turn in one worker (launch/grouped.py), so the framework's
import and the process are paid once per runtime, not once per row; runtimes never share a process. Those workers
import their frameworks ahead, one per allowed core at a time, before any of them measures.

The search prunes on latency only, so it stands aside (every row measured, as --exhaustive) where the pick is made
on anything else: a --budget, an --optimize other than latency, compression or real time; and where
the steady state is no longer than the probe (quick looks, tests), since pruning would save nothing there.
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from edgepick.core import errors
from edgepick.core.registry import CONVERTERS
from edgepick.core.rows import CandidateRow
from edgepick.launch import base as launch
from edgepick.plan.planner import Candidate
from edgepick.rigor import run as rigor
from edgepick.sweep import history
from edgepick.sweep.racing import DEFERRED, MARGIN, Race, stands_aside

# Without history: the runtimes most often fastest on CPUs first, so the first bar is already a good one.
PRIOR = ("onnxruntime", "openvino", "litert", "ncnn", "tvm", "torch-compile", "torchscript", "torch-eager",
         "executorch", "opencv-dnn", "tensorflow", "keras-jax", "mxnet")


def order(candidates: list[Candidate], predicted: dict[str, dict]) -> list[Candidate]:
    """The likely winners first, a runtime at a time: runtimes by their best expected ratio to the best at the
    smallest batch size (history's, else the prior's rank), each runtime's configurations together, smallest batch
    first. The first runtime then sets the bar of every batch size, and each runtime after it is measured in one
    shared worker (launch/grouped.py), all of its configurations raced against bars that already exist; ranking a
    runtime by a larger batch would bring all its small-batch rows in before any bar (a history that made OpenVINO
    BF16 the best at batch 8 measured its three batch-1 rows in full). Stable: a tie keeps plan order."""
    def prior(runtime: str) -> int:
        return PRIOR.index(runtime) if runtime in PRIOR else len(PRIOR)

    def expected(c: Candidate) -> float:
        p = predicted.get(c.key)
        return p["history_ratio"] if p else 1.0 + 0.1 * prior(c.runtime)

    smallest = min((c.batch for c in candidates), default=1)
    lead: dict[str, float] = {}
    for c in candidates:
        if c.batch == smallest:
            lead[c.runtime] = min(lead.get(c.runtime, float("inf")), expected(c))

    def rank(c: Candidate):
        return (lead.get(c.runtime, expected(c)), prior(c.runtime), c.runtime, c.batch, expected(c))

    return sorted(candidates, key=rank)


def measure_all(sw, candidates: list[Candidate]) -> None:
    """The sweep's loop: resumed rows reused, conversions ahead, then candidates one at a time, likely winners first.
    `sw` is the scheduler's _Sweep (measure, convert, save, notify, rows, done)."""
    why_not = stands_aside(sw.request)
    race = sw.race = getattr(sw, "race", None) or Race(enabled=why_not is None)
    predicted = history.predict(sw.store, sw.run, candidates)
    losers = sorted(k for k, p in predicted.items() if p["predicted"] == "loses" and k not in sw.done)
    if losers:  # said before measuring; measured all the same unless --trust-history
        sw.notify("predicted", {"loses": losers, "skipped": sw.request.search.trust_history})
    race.expect(candidates, predicted)
    todo = [c for c in candidates if c.key not in sw.done]
    _convert_ahead(sw, [c for c in todo if not c.blocked and not c.compression])
    shared = sw.shared_workers = _shared_workers(sw, race)
    if shared is None:
        return _measure_in_order(sw, race, candidates, predicted, todo, None)
    shared.plan(_upcoming_groups(sw, order(candidates, predicted), todo, predicted))
    try:
        with launch.using(shared):
            _measure_in_order(sw, race, candidates, predicted, todo, shared)
    finally:
        shared.close()


def _measure_in_order(sw, race: Race, candidates: list[Candidate], predicted: dict, todo: list[Candidate],
                      shared) -> None:
    by_key: dict[str, CandidateRow] = {}
    started, tried = time.monotonic(), set()
    for i, cand in enumerate(order(candidates, predicted)):
        if cand.key in sw.done:  # a resumed row: its probe still sets the bar for the rows left to measure
            by_key[cand.key] = sw.done[cand.key]
            for changed in race.record(cand, sw.done[cand.key]):
                sw.save(changed)
            sw.notify("reused", {"key": cand.key})
            continue
        sw.notify("measuring", {"key": cand.key, "phase": "probe" if race.enabled else "measure", "index": i,
                                "total": len(candidates), "elapsed_s": time.monotonic() - started})
        row = _trusted(cand, predicted.get(cand.key), sw) if sw.request.search.trust_history else None
        if row is None and shared is not None:
            _measure_together(sw, race, shared, cand, todo, tried)
        by_key[cand.key] = _measured(sw, race, cand, row or sw.measure(cand, sw.run_dir), predicted)

    def measure_again(cand: Candidate) -> CandidateRow:
        sw.notify("measuring", {"key": cand.key, "phase": "probe", "index": 0, "total": 1,
                                "elapsed_s": time.monotonic() - started})
        return sw.measure(cand, sw.run_dir)

    def recorded(cand: Candidate, row: CandidateRow) -> None:
        by_key[cand.key] = _measured(sw, race, cand, row, predicted)

    def together(contenders: list[Candidate]) -> None:  # the deferred contenders, a runtime's in one worker
        again: set = set()
        for cand in contenders:
            _measure_together(sw, race, shared, cand, contenders, again)

    # the rows probed before any bar; a bar that fell prunes nothing
    race.finish(measure_again, recorded, together if shared is not None else None)
    rows = [by_key[c.key] for c in candidates]
    for row in history.check(rows):
        sw.save(row)
    sw.rows += rows


def _measured(sw, race: Race, cand: Candidate, row: CandidateRow, predicted: dict) -> CandidateRow:
    if row.get("reason"):  # runtimes' own messages may span lines; a reason is one line in every output
        row["reason"] = " ".join(row["reason"].split())
    if cand.key in predicted:
        row["prediction"] = predicted[cand.key]
    _recorded(sw, race, cand, row)
    sw.notify("measured", {"key": cand.key, "status": row["status"]})
    return row


def _recorded(sw, race: Race, cand: Candidate, row: CandidateRow) -> None:
    """The row settled in the race, and saved with any earlier row its verdicts across precisions changed."""
    for changed in [row, *race.record(cand, row)]:
        sw.save(changed)


def _shared_workers(sw, race: Race):
    """The launcher that measures a runtime's configurations in one worker (launch/grouped.py), or None where each
    is launched alone: no race, or a fleet device's launcher. As many workers import ahead at once as the cores
    allowed permit, and as many wait imported as free memory lets."""
    import psutil

    from edgepick.launch.grouped import SharedWorkers, ahead_count, held_count

    if not race.enabled or launch.current().device is not None:
        return None
    available = psutil.virtual_memory().available  # what can be held without swapping (Linux: MemAvailable)
    return SharedWorkers(launch.current(), ahead=ahead_count(len(allowed_cores(sw.request)), available),
                         held=held_count(available))


def allowed_cores(request) -> list[int]:
    """The cores this run may use: the user's --cores, else this process's affinity."""
    return request.target.cores or sorted(os.sched_getaffinity(0))


def _members(cand: Candidate, todo: list[Candidate], tried: set) -> list[Candidate]:
    """The configurations measured with `cand` in one worker: its runtime's, of the same artifact."""
    return [c for c in todo if c.key not in tried and c.runtime == cand.runtime and c.path == cand.path
            and not c.blocked and not c.compression]


def _upcoming_groups(sw, ordered: list[Candidate], todo: list[Candidate], predicted: dict) -> list:
    """The shared workers the loop below will start, in its order, for their imports ahead (launch/grouped.py)."""
    from edgepick.launch.grouped import Upcoming

    upcoming, tried = [], set()
    left = {c.key for c in todo}
    for cand in ordered:
        if cand.key not in left or cand.key in tried or cand.blocked or cand.compression:
            continue
        if sw.request.search.trust_history and _trusted(cand, predicted.get(cand.key), sw):
            continue
        members = _members(cand, todo, tried)
        tried.update(c.key for c in members)
        converted = sw.convert(cand, sw.run_dir)
        if not isinstance(converted, errors.CandidateFailure):
            upcoming.append(Upcoming(sw.worker_job(cand, converted[0]), sw.run_dir))
    return upcoming


def _measure_together(sw, race: Race, shared, cand: Candidate, todo: list[Candidate], tried: set) -> None:
    """Before `cand` is measured: it and its runtime's other configurations of the same artifact are measured in
    one shared worker, each against the bar of its batch size as it stands now (probed; in full unless clearly
    slower); their launches are then answered from it, and any it did not answer are measured alone as before.
    A configuration is tried in one group at most."""
    if cand.key in tried:
        return
    members = _members(cand, todo, tried)
    tried.update(c.key for c in members)
    jobs, timeout_s = [], 0.0
    for c in members:
        converted = sw.convert(c, sw.run_dir)
        if isinstance(converted, errors.CandidateFailure):
            continue
        job = dict(sw.worker_job(c, converted[0]), **rigor.job_extras(sw.request), probe=race.probe_job(c))
        jobs.append((job, work_dir(sw.run_dir, c)))
        timeout_s += race.deadline(c, sw.request.time.timeout_s)
    if not jobs:
        return
    sw.notify("measuring", {"key": f"{cand.runtime}: {len(jobs)} configuration(s) in one worker", "phase": "probe",
                            "index": 0, "total": len(jobs), "elapsed_s": 0.0})
    shared.measure(jobs, dataclasses.replace(launch.Caps.of(sw.request), timeout_s=timeout_s))


def _trusted(cand: Candidate, prediction: dict | None, sw) -> CandidateRow | None:
    """--trust-history: a candidate history says loses is not measured at all."""
    if not prediction or prediction["predicted"] != "loses":
        return None
    row = new_row(cand, [])
    row["status"], row["reason_class"] = "pruned", None
    row["reason"] = (f"history: p50 {prediction['history_ratio']:.1f}x the best in {prediction['runs']} earlier "
                     "run(s) on this CPU (--trust-history); measure it with --exhaustive")
    return row


def _convert_ahead(sw, candidates: list[Candidate]) -> None:
    """Every distinct conversion, in parallel over the allowed cores, before any timing (conversions need no quiet
    cores; timings do). A failure is kept for its rows, as when converted one by one."""
    unique = list({(tuple(c.path or ()), c.key if c.compression else None): c for c in candidates if c.path}.values())
    if not unique:
        return
    unique.sort(key=_typical_s, reverse=True)  # the longest first (LPT, Graham 1969): the last to finish starts early
    cores = allowed_cores(sw.request)
    sw.notify("phase", {"name": "convert", "total": len(unique)})

    def one(cand: Candidate) -> None:
        sw.notify("converting", {"key": "+".join(cand.path)})
        try:
            sw.convert(cand, sw.run_dir)
        except Exception:  # noqa: BLE001 - left for the candidate's own turn, which reports it as a row
            pass
        sw.notify("converted", {"key": "+".join(cand.path)})

    with ThreadPoolExecutor(max_workers=max(1, min(len(cores), len(unique)))) as pool:
        list(pool.map(one, unique))
    sw.notify("phase", {"name": "measure", "total": len(candidates)})


def _typical_s(cand: Candidate) -> float:
    return sum(getattr(CONVERTERS.get(step), "typical_s", 2.0) for step in cand.path)  # a plugin may not say


def work_dir(run_dir: Path, cand: Candidate) -> Path:
    """Where a candidate's worker writes its result and outputs."""
    return run_dir / cand.key.replace("/", "_")


def new_row(cand: Candidate, cores: list[int]) -> CandidateRow:
    row: CandidateRow = {"key": cand.key, "runtime": cand.runtime, "precision": cand.precision,
                         "threads": cand.threads, "batch": cand.batch, "status": "failed", "reason_class": None,
                         "reason": None, "conversion": [], "cores": cores}
    if cand.compression:
        row["compression"] = cand.record
    if cand.precision_support:
        row["precision_support"] = cand.precision_support
    return row


def summary(sw) -> dict:
    """What the search did, for the stored run and its outputs: how much was pruned, or why it stood aside."""
    pruned = sum(r["status"] == "pruned" for r in sw.rows)  # on every device, for a fleet run
    why_not = stands_aside(sw.request)
    deferred = sum(any(n.startswith(DEFERRED) for n in r.get("notes") or []) for r in sw.rows)
    out = {"rule": f"racing: probe CI low > {MARGIN} x best probe CI high", "rows": len(sw.rows), "pruned": pruned,
           "deferred": deferred}
    shared = getattr(sw, "shared_workers", None)
    if shared is not None and shared.groups:  # what each shared worker did (launch/grouped.py)
        out["shared_workers"] = shared.groups
    return out | ({"measured_everything": why_not} if why_not else {})
