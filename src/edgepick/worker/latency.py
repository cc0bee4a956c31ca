"""Timing loop and latency statistics.

Warm-up ends when both a minimum count and a minimum time are reached (the first calls pay for lazy
allocation and kernel selection; the time floor covers frequency ramp-up). Measurement ends when both a
minimum duration and a minimum number of samples are reached, or at a hard cap. The clock wraps only the
runtime's own run call on prepared inputs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from edgepick.core.job import PROBE_POLICY, TimingPolicy  # the job's settings: the contract with the parent
from edgepick.worker.contention import CoreShare


def timed_loop(call: Callable[[], object], policy: TimingPolicy) -> tuple[list[int], int]:
    """Return (steady-state samples in ns, number of warm-up calls)."""
    clock = time.perf_counter_ns
    start = clock()
    warm = 0
    while warm < policy.warmup_count or clock() - start < policy.warmup_s * 1e9:
        call()
        warm += 1
    samples: list[int] = []
    append = samples.append
    begin = clock()
    min_ns, max_ns = policy.min_duration_s * 1e9, policy.max_duration_s * 1e9
    while True:
        t0 = clock()
        call()
        t1 = clock()
        append(t1 - t0)
        elapsed = t1 - begin
        n = len(samples)
        if (n >= policy.min_samples and elapsed >= min_ns) or elapsed >= max_ns or n >= policy.max_samples:
            break
    return samples, warm


def clearly_slower(probe: dict, bar: dict) -> bool:
    """The racing rule (Maron & Moore 1994, Hoeffding races; Birattari et al. 2002, F-Race): a candidate is out when
    the lower bound of its median's CI lies above the best probe's upper bound times a margin, so two candidates
    within noise of each other (overlapping CIs) both stay, and so does a rival the margin cannot rule out."""
    return _above(probe["p50_ci95"][0], bar)


def _above(ci_low_ms: float, bar: dict) -> bool:
    return ci_low_ms > bar["margin"] * bar["best_upper_ms"]


# A window in which other processes took part of the worker's cores (worker/contention.py) never counts towards
# pruning: how much slower it made the window is not known (a parallel call waits for its slowest thread, so a rival
# on one core of two can double a latency while taking a quarter of the cores).
PROBE_WINDOWS = 4  # at most: two windows must count; a starved one is tried again after a pause
STARVED_PAUSE_S = 0.5  # let a burst of other work pass before the next window


def probe(call: Callable[[], object], bar: dict | None, share: CoreShare | None = None,
          judged_later: bool = False, warm_up: TimingPolicy | None = None) -> dict:
    """The probe's windows against the bar: {"summary", "samples_ns", "warm", "windows", "pruned"}.

    A first window not clearly slower ends the probe (a contender). A clearly slower one gets another: two windows
    that count (clearly slower, and the worker had its pinned cores to itself) prune, so a burst of other work on a
    shared machine cannot decide a race. The figures kept are the window kindest to the candidate. `share` reads
    the share of the pinned cores the worker had in a window (the cores' busy time less its own). `judged_later`:
    no bar exists yet, and the race judges this probe against the bar it ends with (sweep/racing.py), so it takes
    the two windows that count a pruning needs, each with its CI (`ci_low`). `warm_up`: a longer warm-up before the
    first window (a deferred probe's: it sets the bar every later candidate is held to, so it warms up as a steady
    state does; a bar read off a half-warm process is loose, and lets slower rivals through as contenders)."""
    windows, counted, calls = [], 0, 0
    straight_on = replace(PROBE_POLICY, warmup_count=0, warmup_s=0.0)  # right after a window: it was the warm-up
    policy, share = PROBE_POLICY, share or CoreShare()
    if warm_up is not None:
        policy = replace(PROBE_POLICY, warmup_count=max(PROBE_POLICY.warmup_count, warm_up.warmup_count),
                         warmup_s=max(PROBE_POLICY.warmup_s, warm_up.warmup_s))
    for _ in range(PROBE_WINDOWS):
        share.start()
        samples_ns, warm = timed_loop(call, policy)
        had = share.stop()
        summary = summarize(samples_ns)
        windows.append((summary, samples_ns, calls + warm, had))  # every call before the window warmed it
        calls += warm + len(samples_ns)
        if not (bar and clearly_slower(summary, bar)) and not (judged_later and bar is None):
            break
        if had == 1.0:
            counted += 1
            if counted == 2:
                break
            policy = straight_on
        else:
            time.sleep(STARVED_PAUSE_S)
            policy = PROBE_POLICY
    summary, samples_ns, warm, _ = min(windows, key=lambda w: w[0]["p50"])
    return {"summary": summary, "samples_ns": samples_ns, "warm": warm, "pruned": bool(bar) and counted == 2,
            "windows": [{"p50": w[0]["p50"], "ci_low": w[0]["p50_ci95"][0], "cpu_share": round(w[3], 2)}
                        for w in windows]}


def judged_slower(windows: list[dict], bar: dict) -> bool:
    """The probe's own rule on windows taken before the bar existed: two that count (the worker had its cores)
    whose CIs lie clearly above it."""
    return sum(w["cpu_share"] == 1.0 and _above(w["ci_low"], bar) for w in windows) >= 2


def pruned_by(p50_ms: float, bar: dict) -> dict:
    """What a pruned row keeps of the bar that pruned it (`probe.pruned`), in the worker or at the race's end."""
    return {"ratio": p50_ms / bar["best_p50_ms"], "best": bar["best_key"], "margin": bar["margin"],
            "best_upper_ms": bar["best_upper_ms"]}


def median_ci(sorted_ms: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval for the median from binomial order statistics (normal approximation)."""
    n = len(sorted_ms)
    if n < 6:
        return float(sorted_ms[0]), float(sorted_ms[-1])
    z = 1.959963984540054 if confidence == 0.95 else _z(confidence)
    half = z * math.sqrt(n) / 2
    lo = max(0, int(math.floor(n / 2 - half)) - 1)
    hi = min(n - 1, int(math.ceil(n / 2 + half)))
    return float(sorted_ms[lo]), float(sorted_ms[hi])


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


def batch_median_ci(ms_in_order: np.ndarray, batches: int = 20) -> list[float] | None:
    """95% CI of the median from the medians of `batches` consecutive chunks of the run (batch medians).

    The order-statistic CI of `median_ci` assumes independent samples; a drifting machine (other processes, clock,
    caches) makes neighbouring samples alike, and that CI becomes far too narrow to hold across runs. Chunk medians
    are much closer to independent, so their CI also covers slow drift within the run.
    """
    if len(ms_in_order) < 2 * batches:
        return None
    medians = np.sort([np.median(c) for c in np.array_split(ms_in_order, batches)])
    lo, hi = median_ci(medians)
    return [lo, hi]


def summarize(samples_ns: list[int]) -> dict:
    in_order = np.asarray(samples_ns, dtype=np.float64) / 1e6
    ms = np.sort(in_order)
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if len(ms) > 1 else 0.0
    lo, hi = median_ci(ms)
    p50 = float(np.percentile(ms, 50))
    return {
        "p50": p50,
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "mean": mean,
        "std": std,
        "min": float(ms[0]),
        "max": float(ms[-1]),
        "cv": std / mean if mean > 0 else 0.0,
        # the MAD scaled to a standard deviation, over the median: what CV would be without the tail. At microsecond
        # latencies one preempted call in 10^4 costs milliseconds, so CV measures the tail, this the median's wobble.
        "robust_cv": 1.4826 * float(np.median(np.abs(ms - p50))) / p50 if p50 > 0 else 0.0,
        "p50_ci95": [lo, hi],
        "p50_ci95_batches": batch_median_ci(in_order),  # drift-aware (20 batch medians); None under 40 samples
        "samples": int(len(ms)),
    }
