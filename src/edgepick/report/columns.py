"""The columns the terminal table (show --wide), the Markdown table and the HTML report share, so they never drift
apart: the standard ones below, then one per field that core/job.py FIELDS declares with a Column."""

from __future__ import annotations

from edgepick.core import job
from edgepick.core.rows import metric


def _f(value, fmt: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, fmt)


def _rss(row: dict) -> str:
    if row.get("peak_rss_mb") is None:
        return "-"
    return f"{row['peak_rss_mb']:.0f} (+{row.get('rss_above_baseline_mb') or 0:.0f})"


def _eq(row: dict) -> str:
    eq = row.get("equivalence") or {}
    if not eq or eq.get("max_abs_err") is None:  # no figures: the outputs differ in count or shape
        return "-"
    return f"{eq['max_abs_err']:.1e} / {_f(eq.get('cosine'), '.5f')}"


def _note(row: dict) -> str:
    if row["status"] != "ok":
        cls = row.get("reason_class")  # a pruned row has a reason but no failure class
        return f"{cls}: {row.get('reason')}" if cls else str(row.get("reason"))
    steps = row.get("conversion") or []
    conv = "+".join(f"{s['converter']} {s['seconds']:.1f}s" for s in steps)
    said = [s["note"] for s in steps if s.get("note")] + list(row.get("notes") or [])  # e.g. the source was sparse
    return "; ".join([conv, *said]) if said else conv


COLUMNS = [
    ("runtime", lambda r: r["runtime"]),
    # the key's second part: fp32, bf16, fp16 or a compression label (two rows of one runtime differ only here)
    ("prec", lambda r: r["key"].split("/")[1]),
    ("thr", lambda r: str(r["threads"])),
    ("batch", lambda r: str(r["batch"])),
    ("status", lambda r: r["status"]),
    ("p50 ms", lambda r: _f(metric(r, "latency"), ".3f")),
    ("p90 ms", lambda r: _f(metric(r, "p90"), ".3f")),
    ("p99 ms", lambda r: _f(metric(r, "p99"), ".3f")),
    ("CV %", lambda r: _f(metric(r, "cv"), ".1f", 100)),
    ("items/s", lambda r: _f(metric(r, "throughput"), ".0f")),
    ("load s", lambda r: _f(metric(r, "load"), ".2f")),
    ("1st ms", lambda r: _f(metric(r, "first_inference"), ".2f")),
    ("RSS MB (+load)", _rss),
    ("size MB", lambda r: _f(metric(r, "size"), ".2f")),
    ("max|err| / cos", _eq),
    ("acc %", lambda r: _f(metric(r, "accuracy"), ".2f", 100)),
]


def _declared(f: job.Field):
    column = f.column
    return lambda r: _f(r.get(f.name), column.fmt, column.scale)


COLUMNS += [(label, _declared(f)) for label, f in job.columns()]
