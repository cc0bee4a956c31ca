"""The few calls sweep.py makes for the compression axis, kept here so the sweep's own code stays small."""

from __future__ import annotations

from pathlib import Path

from edgepick.artifact import Artifact
from edgepick.compress import plan, search
from edgepick.compress.metrics import parse_drop


def key_settings(request) -> dict | None:
    """What changes compressed rows, so a run with other compression settings is not resumed from this one."""
    if not request.compressions:
        return None
    return {"compressions": request.compressions, "max_acc_drop": parse_drop(request.max_acc_drop).to_dict(),
            "metric": request.metric, "calib": str(request.calib) if request.calib else None,
            "calib_size": request.calib_size, "train_data": str(request.train_data) if request.train_data else None}


def setup(request, spec, data, reference, artifacts_root: Path):
    return plan.setup(request, spec, data, reference, artifacts_root)


def candidates(request, runtimes: list[str], cs, notify):
    return plan.candidates(request.compressions, runtimes, request.threads, request.batches, cs, notify)


def follow_up(rows: list[dict], cs, request, notify) -> list:
    return search.follow_up(rows, cs, request.threads, request.batches, notify)


def convert(cand, spec, artifacts_root: Path):
    """A compressed candidate's artifact in its runtime's format, with every step it took (compression first)."""
    from edgepick.convert.chain import convert_along

    artifact, steps = convert_along(cand.path, Artifact.from_dict(cand.start), spec.signature, Path(cand.cache_dir))
    return artifact, list(cand.steps or []) + steps


def decide(row: dict, cand, outputs, cs) -> bool:
    """Score the metric on every row; a compressed row's verdict is the drop rule (True: verdict given here)."""
    if cand.compression:
        search.judge(row, outputs, cs)
        return True
    score = cs.metric.score(outputs, cs.data.labels, cs.reference)
    row["metric"] = {"name": cs.metric.name, "score": score, "reference": cs.reference_score,
                     "drop": cs.tolerance.drop(cs.reference_score, score), "tolerance": cs.tolerance.describe()}
    return False


def finish(rows: list[dict], cs) -> dict:
    """Flag outcomes on INT8 rows, and the run-level summary (metric, tolerance, calibration, fastest passing)."""
    from edgepick.compress.flags import verdicts

    verdicts(rows)
    best = search.fastest_within([r for r in rows if r["status"] == "ok"])
    return {**cs.describe(), "fastest_within_tolerance": best["key"] if best else None,
            "configs_tried": sum(1 for r in rows if r.get("compression"))}
