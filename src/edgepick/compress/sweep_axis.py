"""The few calls sweep/scheduler.py makes for the compression axis, kept here so the sweep's own code stays small."""

from __future__ import annotations

from pathlib import Path

from edgepick.compress import plan, search
from edgepick.compress.metrics import parse_drop
from edgepick.core import errors
from edgepick.core.artifact import Artifact


def key_settings(request) -> dict | None:
    """What changes compressed rows, so a run with other compression settings is not resumed from this one."""
    c = request.compression
    if not c.compressions:
        return None
    return {"compressions": c.compressions, "max_acc_drop": parse_drop(c.max_acc_drop).to_dict(), "metric": c.metric,
            "calib": str(c.calib) if c.calib else None, "calib_size": c.calib_size,
            "train_data": str(c.train_data) if c.train_data else None}


def setup(request, spec, data, reference, artifacts_root: Path):
    """The calibration set, training data and metric, read and checked in a capped worker (compress/capped.py)."""
    from edgepick.compress import capped

    return capped.setup(request, spec, data, reference, artifacts_root)


def candidates(request, runtimes: list[str], cs, notify):
    return plan.candidates(request.compression.compressions, runtimes, request.workload.threads, request.workload.batches, cs, notify)


def follow_up(rows: list[dict], cs, request, notify) -> list:
    return search.follow_up(rows, cs, request.workload.threads, request.workload.batches, notify)


def convert(cand, spec, artifacts_root: Path, request=None, run_dir: Path | None = None):
    """A compressed candidate's artifact in its runtime's format, with every step it took (compression first).

    With the request and the run's folder (the sweep), the conversion runs in a capped worker like any other."""
    if request is not None and run_dir is not None:
        from edgepick.compress import capped

        return capped.convert(cand, spec, artifacts_root, request, run_dir)
    from edgepick.convert.chain import convert_along

    artifact, steps = convert_along(cand.path, Artifact.from_dict(cand.start), spec.signature, Path(cand.cache_dir))
    return artifact, list(cand.steps or []) + steps


def decide(row: dict, cand, outputs, cs) -> bool:
    """Score the metric on every row; a compressed row's verdict is the drop rule (True: verdict given here)."""
    try:  # a --metric module:function runs in a worker (compress/capped.py): its failure is this row's reason
        if cand.compression:
            search.judge(row, outputs, cs)
            return True
        score = cs.metric.score(outputs, cs.data.labels, cs.reference)
    except errors.CandidateFailure as failure:
        row["status"], row["reason_class"], row["reason"] = "failed", failure.reason_class, failure.message
        return True
    row["metric"] = {"name": cs.metric.name, "score": score, "reference": cs.reference_score,
                     "drop": cs.tolerance.drop(cs.reference_score, score), "tolerance": cs.tolerance.describe()}
    return False


def finish(rows: list[dict], cs) -> dict:
    """Flag outcomes on INT8 rows, and the run-level summary (metric, tolerance, calibration, fastest passing)."""
    from edgepick.compress import capped
    from edgepick.compress.flags import verdicts

    capped.cleanup(cs)  # the context folder the workers shared
    verdicts(rows)
    best = search.fastest_within([r for r in rows if r["status"] == "ok"])
    return {**cs.describe(), "fastest_within_tolerance": best["key"] if best else None,
            "configs_tried": sum(1 for r in rows if r.get("compression"))}
