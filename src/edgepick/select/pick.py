"""The pick without a budget: the fastest median latency among rows that agree with the reference.

Only rows at the smallest batch size compete, because a latency pick compares like with like; larger batches
are reported for throughput. Every other row gets the reason it lost.
"""

from __future__ import annotations


def pick(rows: list[dict]) -> tuple[dict | None, dict[str, str]]:
    """Return (the picked row or None, {row key: reason it was not picked})."""
    reasons: dict[str, str] = {}
    ok = [r for r in rows if r["status"] == "ok"]
    if not ok:
        for r in rows:
            reasons[r["key"]] = _not_ok(r)
        return None, reasons
    smallest = min(r["batch"] for r in ok)
    contenders = [r for r in ok if r["batch"] == smallest]
    best = min(contenders, key=lambda r: r["latency_ms"]["p50"])
    for r in rows:
        if r is best:
            continue
        if r["status"] != "ok":
            reasons[r["key"]] = _not_ok(r)
        elif r["batch"] != smallest:
            reasons[r["key"]] = f"batch {r['batch']}: compared for throughput, not latency"
        else:
            p, b = r["latency_ms"]["p50"], best["latency_ms"]["p50"]
            reasons[r["key"]] = f"p50 {p:.3f} ms vs {b:.3f} ms ({p / b:.2f}x slower)" + _tie(r, best)
    return best, reasons


def _tie(row: dict, best: dict) -> str:
    lo, hi = row["latency_ms"]["p50_ci95"]
    blo, bhi = best["latency_ms"]["p50_ci95"]
    return "; the 95% intervals of the medians overlap: statistically tied" if lo <= bhi and blo <= hi else ""


def _not_ok(row: dict) -> str:
    if row["status"] == "disagrees":
        return f"disagrees with the reference: {row['reason']}"
    return f"failed ({row['reason_class']}): {row['reason']}"
