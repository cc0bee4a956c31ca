"""Noise: the machine's load around each candidate, noisy-row detection, and interleaved A B A B comparison.

Other processes and frequency changes move latency more than most runtime differences. The parent samples the
load (1-min load average, the CPU busy share of the whole machine while no worker runs, the clock where readable)
just before and just after each candidate's worker; `assess` turns that and the row's CV into warnings. A noisy row
is re-measured once with a longer steady state (see sweep); what stays noisy keeps its warning in the row.

Three readings of one window, because they answer different questions. CV (std/mean) above 10% is a tail: at
microsecond latencies one preempted call in ten thousand costs milliseconds, so CV exceeds 10% on nearly every row
of a shared machine while the median does not move, and no longer run fixes a tail. The robust CV (1.4826 * MAD /
median) above 10% is a spread: the calls themselves vary (cache states, a runtime's thread hand-offs), and a longer
run does not narrow a spread either: on the demo's microsecond rows, every re-measure this once triggered ended at a
robust CV of 17-43% again (benchmarks/README.md §10). Both are reported, never re-measured. What a longer window can
fix is a median that moved *during* the window (a warm-up that outlasted the warm-up, a burst of other work): the
medians of its 20 consecutive batches disagree, so the drift-aware 95% CI of the median (worker/latency.py) is wide.
Above +-5% of the median (`CI_THRESHOLD`: the issue's own 5% "same pick" tolerance, so two rows that far apart are
not left to a coin toss) the row is re-measured once, longer; what stays wide keeps its warning in the row.
"""

from __future__ import annotations

import os
import statistics
import time

CV_THRESHOLD = 0.10  # a (robust) CV above 10%: a tail or a spread worth a look at p90/p99, reported in the row
CI_THRESHOLD = 0.05  # a median whose drift-aware CI is wider than +-5% of itself moved during its window
BUSY_THRESHOLD = 25.0  # % of the whole machine busy with other processes while no worker is running
FREQ_CHANGE = 0.05  # a 5% clock change between before and after
UNSTEADY = "median moved"  # the warning that triggers a longer re-measure (rigor.run_measured)
SPREAD = "robust CV "  # calls that vary around a steady median: reported, never re-measured (report/rigor.py)
TAIL = "CV "  # a heavy tail with a steady median: reported, never re-measured
STEADY_MEDIAN = (SPREAD, TAIL)  # the warnings that leave the median's CI as it is
REUSE_WITHIN_S = 1.0  # a "before" sample may be the previous worker's "after" when only the parent ran since
_LATEST: list[tuple[float, dict]] = []  # the latest sample and when it was taken (time.monotonic)


def machine_load(sample_s: float = 0.2, reuse_within_s: float = 0.0) -> dict:
    """Load snapshot of the machine while our worker is not running: everything busy is someone else.
    `reuse_within_s`: a sample taken at most that long ago is returned instead (a copy): right after one worker and
    right before the next, only the parent's bookkeeping ran in between, and each new sample costs `sample_s`
    (a sweep of 34 rows spent 20 s of its 150 s sampling twice between every two workers)."""
    if reuse_within_s and _LATEST and time.monotonic() - _LATEST[0][0] <= reuse_within_s:
        return dict(_LATEST[0][1])
    import psutil

    procs = list(psutil.process_iter(["pid", "name"]))
    for proc in procs:  # the first cpu_percent() call only starts each process's counter
        try:
            proc.cpu_percent(None)
        except psutil.Error:
            pass
    out = {"loadavg_1m": os.getloadavg()[0], "cpu_busy_pct": psutil.cpu_percent(interval=sample_s)}
    try:
        freq = psutil.cpu_freq()
        out["freq_mhz"] = freq.current if freq else None
    except (OSError, NotImplementedError, AttributeError):
        out["freq_mhz"] = None
    busy = []
    for proc in procs:
        try:
            pct = proc.cpu_percent(None)
        except psutil.Error:
            continue
        if proc.info["pid"] != os.getpid() and pct > 20:
            busy.append((pct, f"{proc.info['name']}({pct:.0f}%)"))
    out["busy_processes"] = [name for _, name in sorted(busy, reverse=True)[:5]]
    _LATEST[:] = [(time.monotonic(), out)]
    return dict(out)


def median_halfwidth(lat: dict) -> float | None:
    """How far the median may be off, as a fraction of it: the half-width of its most honest CI (best_ci: in one
    window, batch medians, which cover drift within it; else order statistics). None without a median."""
    if not lat.get("p50") or not lat.get("p50_ci95"):
        return None
    (lo, hi), _ = best_ci(lat)
    return (hi - lo) / 2 / lat["p50"]


def moved(lat: dict, above: float = CI_THRESHOLD) -> bool:
    """Whether the median moved during its window (the re-measure's trigger, worker/measure.py and rigor/run.py)."""
    width = median_halfwidth(lat)
    return width is not None and width > above


def assess(row: dict, before: dict | None, after: dict | None) -> list[str]:
    """Warnings for one measured row; an empty list means no sign of noise."""
    warnings = []
    lat = row.get("latency_ms") or {}
    cv, robust, width = lat.get("cv"), lat.get("robust_cv"), median_halfwidth(lat)
    if moved(lat):
        warnings.append(f"{UNSTEADY}: its 95% CI is +-{width * 100:.1f}% > +-{CI_THRESHOLD * 100:.0f}% "
                        "(the window's batch medians disagree)")
    elif robust is not None and robust > CV_THRESHOLD:
        steady = f" (CI +-{width * 100:.1f}%)" if width is not None else ""
        warnings.append(f"{SPREAD}{robust * 100:.0f}% > {CV_THRESHOLD * 100:.0f}%: the calls vary, the median is "
                        f"steady{steady}")
    elif cv is not None and cv > CV_THRESHOLD:
        tail = f"p99 = {lat['p99'] / lat['p50']:.1f}x p50" if lat.get("p50") and lat.get("p99") else "long tail"
        robust_text = f", robust CV {robust * 100:.1f}%" if robust is not None else ""
        warnings.append(f"{TAIL}{cv * 100:.0f}% > {CV_THRESHOLD * 100:.0f}% from the tail ({tail}{robust_text}): "
                        "the median is steady, p99 is not")
    for when, load in (("before", before), ("after", after)):
        if load and load.get("cpu_busy_pct", 0) > BUSY_THRESHOLD:
            warnings.append(f"machine {load['cpu_busy_pct']:.0f}% busy {when} the run (other processes)")
    f0, f1 = (before or {}).get("freq_mhz"), (after or {}).get("freq_mhz")
    if f0 and f1 and abs(f1 - f0) / f0 > FREQ_CHANGE:
        warnings.append(f"CPU clock changed {f0:.0f} -> {f1:.0f} MHz")
    return warnings


METHOD = "t-interval over per-process medians"  # the between-process CI of --repeats (rigor/repeats.py)


def best_ci(lat: dict) -> tuple[list[float], str]:
    """The most honest interval a row has: between processes > batch medians (drift in one run) > order statistics."""
    if lat.get("p50_ci95_processes"):
        return lat["p50_ci95_processes"], f"{METHOD} ({lat['processes']['count']} processes)"
    if lat.get("p50_ci95_batches"):
        return lat["p50_ci95_batches"], "batch medians of one process"
    return lat["p50_ci95"], "order statistics of one process"


def ci_of(a: dict, b: dict) -> tuple[list[float], list[float]]:
    """The two rows' median CIs, each the most honest one it has (best_ci): between fresh processes
    (--repeats), else batch medians (drift within the run), else order statistics."""
    return best_ci(a["latency_ms"])[0], best_ci(b["latency_ms"])[0]


def ci_overlap(a: dict, b: dict) -> bool:
    (lo, hi), (blo, bhi) = ci_of(a, b)
    return lo <= bhi and blo <= hi


def close_pairs(rows: list[dict], best: dict | None) -> list[dict]:
    """The ok rows at the best's batch whose median CI overlaps the best's: the ones a drift could reorder."""
    if best is None:
        return []
    return [r for r in rows if r is not best and r["status"] == "ok" and r["batch"] == best["batch"]
            and r.get("latency_ms") and ci_overlap(r, best)]


def interleaved_verdict(a_windows: list[float], b_windows: list[float]) -> dict:
    """Compare per-window medians of A and B measured alternately (A B A B ...): a paired sign test.

    Each round is one A window then one B window, so slow drift hits both alike. A two-sided sign test on the
    rounds' winners decides: p < 0.1 names a faster one (5 rounds out of 5 gives p = 0.0625), anything else is tied.
    """
    rounds = min(len(a_windows), len(b_windows))
    b_wins = sum(b < a for a, b in zip(a_windows, b_windows))
    ratio = statistics.median(b_windows) / statistics.median(a_windows) if rounds else None
    p = min(1.0, sum(_binom(rounds, i) for i in range(0, min(b_wins, rounds - b_wins) + 1)) * 2 / 2**rounds) if rounds else 1.0
    if rounds and p < 0.1:
        verdict = "b faster" if b_wins > rounds / 2 else "a faster"
    else:
        verdict = "tied"
    return {"rounds": rounds, "b_wins": b_wins, "median_ratio_b_over_a": ratio, "sign_test_p": p, "verdict": verdict,
            "a_window_p50_ms": a_windows, "b_window_p50_ms": b_windows}


def _binom(n: int, k: int) -> int:
    from math import comb

    return comb(n, k)
