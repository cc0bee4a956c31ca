"""Compare two runs: candidates lined up by key, per-metric deltas, and a regression verdict for latency.

A latency change is flagged only when it is both statistically significant (two-sided Mann-Whitney U on the
steady-state samples, p < alpha) and larger than a threshold on the median: with thousands of samples a 0.5 %
shift is "significant" but nobody should page on it, and a 30 % shift on ten noisy samples may be chance.
"""

from __future__ import annotations

import re

from edgepick.core.errors import UserError
from edgepick.core.rows import METRICS as ROW_METRICS

METRICS = tuple(  # (label, how to read it, higher is better?) from the one table of row metrics (core/rows.py)
    (ROW_METRICS[name].label, ROW_METRICS[name].read, not ROW_METRICS[name].lower_is_better)
    for name in ("latency", "p90", "p99", "throughput", "memory", "size", "load", "accuracy"))


def parse_threshold(text: str) -> float:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*", text or "")
    if not m:
        raise UserError(f"bad --threshold '{text}': a percentage, e.g. 5%")
    return float(m.group(1)) / 100


def compare_runs(a, b, threshold: float = 0.05, alpha: float = 0.01) -> dict:
    if not 0 < alpha < 1:
        raise UserError(f"bad --alpha {alpha}: between 0 and 1, e.g. 0.01")
    rows_a = {r["key"]: r for r in a.rows}
    rows_b = {r["key"]: r for r in b.rows}
    lined = []
    for key in [*rows_a, *(k for k in rows_b if k not in rows_a)]:
        lined.append(_pair(key, rows_a.get(key), rows_b.get(key), threshold, alpha))
    same_machine = _machine(a.fingerprint) == _machine(b.fingerprint)
    return {"run_a": a.run_id, "run_b": b.run_id, "threshold": threshold, "alpha": alpha,
            "same_model": a.model_hash == b.model_hash, "same_machine": same_machine,
            "candidates": lined, "regressions": [c["key"] for c in lined if c["verdict"] == "regression"],
            "improvements": [c["key"] for c in lined if c["verdict"] == "improvement"]}


def _machine(fp: dict) -> tuple:
    return fp.get("cpu_model"), fp.get("usable_cores"), fp.get("versions")


def _pair(key: str, ra: dict | None, rb: dict | None, threshold: float, alpha: float) -> dict:
    out = {"key": key, "status_a": ra and ra["status"], "status_b": rb and rb["status"], "deltas": {}}
    if ra is None or rb is None:
        out["verdict"], out["why"] = ("only-in-b", "not in run A") if ra is None else ("only-in-a", "not in run B")
        return out
    for name, read, _ in METRICS:
        va, vb = read(ra), read(rb)
        if va is not None and vb is not None:
            out["deltas"][name] = {"a": va, "b": vb, "change": (vb - va) / va if va else None}
    if ra["status"] != rb["status"]:
        broke = ra["status"] == "ok"
        out["verdict"] = "regression" if broke else ("improvement" if rb["status"] == "ok" else "changed")
        out["why"] = f"status {ra['status']} -> {rb['status']}" + (f": {rb.get('reason')}" if broke else "")
        return out
    sa, sb = ra.get("latency_samples_ms"), rb.get("latency_samples_ms")
    if ra["status"] != "ok" or not sa or not sb:
        out["verdict"], out["why"] = "not-compared", "no latency samples on both sides"
        return out
    from scipy.stats import mannwhitneyu

    p = float(mannwhitneyu(sa, sb, alternative="two-sided").pvalue)
    change = out["deltas"]["p50 ms"]["change"]
    out["p_value"], out["p50_change"] = p, change
    significant, large = p < alpha, abs(change) > threshold
    if significant and large:
        out["verdict"] = "regression" if change > 0 else "improvement"
        out["why"] = f"p50 {change * 100:+.1f}% (> {threshold * 100:g}%), Mann-Whitney U p={p:.2g} < {alpha:g}"
    else:
        out["verdict"] = "unchanged"
        out["why"] = (f"p50 {change * 100:+.1f}%, p={p:.2g}: " +
                      ("significant but within the threshold" if significant else
                       "not significant" + (" (a large shift, but it may be noise)" if large else "")))
    return out


def print_comparison(result: dict, console) -> None:
    from rich.table import Table

    table = Table(title=f"compare {result['run_a']} -> {result['run_b']}", title_justify="left", header_style="bold")
    for col in ("candidate", "status", "p50 ms A -> B", "change", "p (MWU)", "items/s change", "RSS change", "verdict"):
        table.add_column(col, justify="left" if col in ("candidate", "status", "verdict") else "right", no_wrap=True)
    style = {"regression": "bold red", "improvement": "green"}
    for c in result["candidates"]:
        d = c["deltas"]
        lat = d.get("p50 ms")
        table.add_row(c["key"], f"{c['status_a']} -> {c['status_b']}",
                      f"{lat['a']:.3f} -> {lat['b']:.3f}" if lat else "-", _pct(lat), _p(c.get("p_value")),
                      _pct(d.get("items/s")), _pct(d.get("peak RSS MB")), f"{c['verdict']}: {c['why']}",
                      style=style.get(c["verdict"]))
    console.print(table)
    if not result["same_model"]:
        console.print("[yellow]note:[/] the two runs measured different models (model hashes differ)")
    if not result["same_machine"]:
        console.print("[yellow]note:[/] the environment fingerprints differ (CPU, cores or versions)")
    n = len(result["regressions"])
    console.print(f"[bold]{n} regression(s)[/]" + (f": {', '.join(result['regressions'])}" if n else "") +
                  f" (flagged when p < {result['alpha']:g} and |p50 change| > {result['threshold'] * 100:g}%)")


def _pct(delta: dict | None) -> str:
    return "-" if not delta or delta.get("change") is None else f"{delta['change'] * 100:+.1f}%"


def _p(p: float | None) -> str:
    return "-" if p is None else f"{p:.2g}"
