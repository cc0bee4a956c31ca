"""Cold start: import, load/compile and first inference, each in a fresh worker process, repeated N times.

Edge deployments restart often, so the time to the first answer matters as much as the steady state. Each repeat
is a new `python -m edgepick.worker.measure` with `cold_only` set, so it stops after the first inference. The OS
page cache is NOT dropped between repeats (that needs root): these are warm-disk cold starts, which is what a
service restart on a running device sees; a first boot after power-on is slower.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from edgepick.launch import base as launch

PHASES = (("import_s", 1e3, "import ms"), ("load_s", 1e3, "load ms"), ("first_inference_ms", 1.0, "first inference ms"))


def spread(values: list[float]) -> dict:
    values = sorted(values)
    q = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
    return {"median": statistics.median(values), "min": values[0], "max": values[-1], "iqr": q[2] - q[0],
            "n": len(values)}


def cold_start(job: dict, work_dir: Path, repeats: int, timeout_s: float, memory_limit: int | None = None,
               memory_mechanism: str = "auto") -> dict:
    """Per-phase median and spread (ms) over `repeats` fresh processes; failures are counted, not hidden."""
    per_phase: dict[str, list[float]] = {label: [] for _, _, label in PHASES}
    totals, failures = [], []
    for i in range(repeats):
        result = launch.current().launch(dict(job, cold_only=True), work_dir / f"cold-{i}",
                                         launch.Caps(timeout_s, memory_limit, memory_mechanism))
        if result.get("status") != "ok":
            failures.append(f"{result.get('reason_class')}: {result.get('reason')}")
            continue
        total = 0.0
        for key, scale, label in PHASES:
            per_phase[label].append(result[key] * scale)
            total += result[key] * scale
        totals.append(total)
    out = {"repeats": repeats, "ok": len(totals), "failures": failures[:3],
           "phases_ms": {label: spread(v) for label, v in per_phase.items() if v},
           "note": "fresh process per repeat; OS page cache kept warm (not a power-on cold boot)"}
    if totals:
        out["phases_ms"]["time to first answer ms"] = spread(totals)
    return out
