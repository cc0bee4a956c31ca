"""Repeated fresh-process windows: a confidence interval that holds from one run to the next.

One process's samples give a tight interval for *that process's* median, but a second run of the same sweep lands
elsewhere: each process gets its own memory layout, thread placement and JIT/kernel choices, and the machine drifts
between runs. On this project's VM OpenVINO moved 0.5-4% between two identical sweeps, outside both the
order-statistic and the batch-median interval of either run. What reproduces is the spread between processes, so
with `--repeats R` every ok candidate is measured in R fresh workers, in rounds over all candidates (round 1 is the
sweep itself, then A B C ... again), so each candidate's windows also span the sweep's whole duration.

Statistic (Georges, Buytaert, Eeckhout, "Statistically Rigorous Java Performance Evaluation", OOPSLA 2007: one
value per VM invocation, Student t-interval across invocations): each process's median m_i is one observation;
the row's p50 becomes mean(m_i) and its 95% CI mean +- t(0.975, R-1) * sd(m_i) / sqrt(R). That interval includes the
within-process sampling error (it is part of each m_i's scatter) and the between-process one. It is never narrower
than the first process's own interval. p90/p99/mean are likewise means over processes; per-process values are kept.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from edgepick.launch import base as launch
from edgepick.measure.noise import METHOD

# two-sided 95% Student t quantiles t(0.975, df), df = 1..30 (standard tables); beyond 30 the normal 1.96 is within 4%
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: int) -> float:
    return _T975[df - 1] if 1 <= df <= len(_T975) else 1.959963984540054


def process_ci(medians: list[float]) -> tuple[float, float, float]:
    """(mean, low, high) of the 95% t-interval over per-process medians."""
    n = len(medians)
    mean = statistics.fmean(medians)
    if n < 2:
        return mean, mean, mean
    half = t975(n - 1) * statistics.stdev(medians) / math.sqrt(n)
    return mean, mean - half, mean + half


def combine(first: dict, windows: list[dict]) -> dict:
    """The row's latency_ms after R windows: first = the sweep's own summary, windows = the later processes'."""
    every = [first, *windows]
    medians = [w["p50"] for w in every]
    mean, lo, hi = process_ci(medians)
    # never claim more certainty than the first process alone had (R=2 with two equal medians would give width 0)
    lo, hi = min(lo, first["p50_ci95"][0] + mean - first["p50"]), max(hi, first["p50_ci95"][1] + mean - first["p50"])
    out = dict(first)
    out.update({q: statistics.fmean(w[q] for w in every) for q in ("p50", "p90", "p99", "mean")})
    out.update(min=min(w["min"] for w in every), max=max(w["max"] for w in every),
               cv=statistics.fmean(w["cv"] for w in every), samples=sum(w["samples"] for w in every),
               p50_ci95_within=first["p50_ci95"], p50_ci95_processes=[lo, hi])
    out["processes"] = {"count": len(every), "p50_ms": medians, "p99_ms": [w["p99"] for w in every],
                        "spread_pct": 100 * (max(medians) - min(medians)) / mean if mean else 0.0, "method": METHOD}
    return out


def run_window(row: dict, inputs_path: Path, timing, work_dir: Path, request) -> dict:
    """One timing-only window of the row's artifact in a fresh worker (no eval pass, no extras): what both the
    repeats here and the interleaved A B A B comparison (rigor.interleave_close) measure."""
    job = dict(row["worker_job"], inputs=str(inputs_path), timing=timing.to_dict(), skip_eval=True)
    return launch.current().launch(job, work_dir, launch.Caps.of(request))


def repeat_windows(rows: list[dict], run_dir: Path, inputs_path: Path, request, notify=None) -> list[dict]:
    """Rounds 2..R of fresh-process windows over every ok row; returns the rows whose latency changed."""
    repeats = request.rigor.repeats
    todo = [r for r in rows if r.get("status") == "ok" and r.get("worker_job") and r.get("latency_ms")
            and not (r["latency_ms"].get("processes") or {}).get("count", 0) >= repeats]  # resumed rows keep theirs
    if repeats < 2 or not todo:
        return []
    # same steady-state policy as the first window (a noise re-measure may have made that one longer: it is only
    # ever longer, so the later windows are never the less careful ones)
    timing = request.time.policy
    got: dict[str, list[dict]] = {r["key"]: [] for r in todo}
    for i in range(1, repeats):
        for row in todo:
            if notify:
                notify("measuring", {"key": f"{row['key']} (process {i + 1}/{repeats})"})
            res = run_window(row, inputs_path, timing, run_dir / "repeats" / f"{row['key'].replace('/', '_')}-{i}", request)
            if res.get("status") == "ok":
                got[row["key"]].append(res["latency_ms"])
            else:  # a window that fails after the first succeeded is itself a finding: keep it in the row
                row.setdefault("repeat_failures", []).append(f"process {i + 1}: {res.get('reason_class')}: "
                                                             f"{' '.join(str(res.get('reason', '')).split())[:200]}")
    changed = []
    for row in todo:
        if got[row["key"]]:
            row["latency_ms"] = combine(row["latency_ms"], got[row["key"]])
            changed.append(row)
    return changed
