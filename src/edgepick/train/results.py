"""A framework's row from its worker's result, and the time-to-accuracy statistic across seeds.

Time-to-accuracy follows MLPerf Training's rule: over several seeds, drop the fastest and the slowest run and
average the rest. A seed that never reaches the target counts as the slowest (infinite time); if a non-reaching seed
survives the trimming, the framework has no time-to-accuracy, and the row says how many seeds reached it.
"""

from __future__ import annotations

import math

import numpy as np

FIELDS = ("framework", "family", "mode", "status", "reason_class", "reason", "threads", "batch", "versions",
          "first_step_s", "step_ms", "samples_per_s", "peak_rss_mb", "rss_above_import_mb", "import_rss_mb",
          "baseline_rss_mb", "import_s", "data_samples_per_s", "data_pipeline", "time_to_accuracy_s",
          "time_to_accuracy", "final_accuracy", "equivalence", "seeds", "warmup", "memory_cap", "worker_wall_s",
          "cores", "artifact", "deploy")


def trimmed_summary(times: list[float | None]) -> dict:
    """MLPerf-style: drop fastest and slowest (when there are at least 3), mean of the rest, with the spread."""
    values = [math.inf if t is None else float(t) for t in times]
    reached = [v for v in values if math.isfinite(v)]
    kept = sorted(values)[1:-1] if len(values) >= 3 else sorted(values)
    mean = float(np.mean(kept)) if kept and all(math.isfinite(v) for v in kept) else None
    return {"mean_trimmed_s": mean, "kept": len(kept), "seeds": len(values), "reached": len(reached),
            "min_s": min(reached) if reached else None, "max_s": max(reached) if reached else None,
            "std_s": float(np.std(reached, ddof=1)) if len(reached) > 1 else None,
            "per_seed_s": [None if not math.isfinite(v) else v for v in values],
            "rule": "mean after dropping the fastest and the slowest seed (MLPerf Training); a seed that never "
                    "reaches the target counts as the slowest"}


def row_from_result(base: dict, result: dict, target: float | None = None) -> dict:
    row = dict(base)
    row.update(status=result.get("status", "failed"), reason_class=result.get("reason_class"),
               reason=" ".join(str(result["reason"]).split()) if result.get("reason") else None)
    for name in ("versions", "first_step_s", "step_ms", "samples_per_s", "peak_rss_mb", "import_rss_mb",
                 "baseline_rss_mb", "import_s", "data_pipeline", "equivalence", "warmup", "memory_cap",
                 "worker_wall_s", "artifact", "step_samples_ms"):
        if result.get(name) is not None:
            row[name] = result[name]
    if result.get("peak_rss_mb") is not None and result.get("import_rss_mb") is not None:
        row["rss_above_import_mb"] = result["peak_rss_mb"] - result["import_rss_mb"]
    if result.get("data_pipeline"):
        row["data_samples_per_s"] = result["data_pipeline"]["samples_per_s"]
    seeds = result.get("seeds") or []
    row["seeds"] = seeds
    if seeds and target is not None:
        tta = trimmed_summary([s.get("time_to_target_s") for s in seeds])
        tta["target_accuracy"] = target
        row["time_to_accuracy"] = tta
        row["time_to_accuracy_s"] = tta["mean_trimmed_s"]
        finals = [s["final_accuracy"] for s in seeds if s.get("final_accuracy") is not None]
        row["final_accuracy"] = float(np.mean(finals)) if finals else None
    if result.get("artifact_error"):
        row["artifact_error"] = result["artifact_error"]
    return row


def public(row: dict) -> dict:
    """The --json entry: the documented fields first, in order (README, "Compare training across frameworks")."""
    out = {k: row.get(k) for k in FIELDS}
    if row.get("artifact_error"):
        out["artifact_error"] = row["artifact_error"]
    return out
