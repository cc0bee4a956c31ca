"""`edgepick report RUN -o report.html`: one self-contained HTML file, plotly's JavaScript embedded (no CDN).

It opens offline, from a file:// URL or an e-mail attachment, and shows the charts, the environment fingerprint,
the capability matrix where edgepick.plan.capabilities provides one, and the pick with a reason for every other row.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path

from edgepick.report.columns import COLUMNS, _note

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
.cands td:nth-child(3) { min-width: 22em; }
th { background: #f4f4f4; } tr.pick td { background: #fde8e8; font-weight: bold; }
tr.failed td { color: #a00; } tr.disagrees td { color: #a60; }
.verdict { font-size: 1.1em; padding: 0.7em 1em; background: #eef6ee; border-left: 4px solid #2ca02c; }
.none { background: #fbeaea; border-left-color: #d62728; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; } .wide { overflow-x: auto; }
.estimate { color: #a60; font-weight: bold; } .chart { margin: 1em 0; } code { background: #f4f4f4; }
"""


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _table(header: list[str], rows: list[list], classes: list[str] | None = None, css: str = "") -> str:
    out = [f'<div class="wide {css}"><table><tr>' + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    return "\n".join(out) + "</table></div>"


def build_html(run) -> str:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    from edgepick.report import plots
    from edgepick.report.selection import device_line, platform_note, selection_of

    sel = selection_of(run)
    figures = [plots.latency_vs_accuracy(run, sel), plots.latency_distributions(run), plots.memory_and_size(run, sel),
               plots.scaling(run), plots.speedup(run)]
    fleet = plots.cross_device_heatmap(run)  # fleet runs (--on): the candidate x device table first
    figures = [fleet, *figures] if fleet is not None else figures
    charts = "\n".join(f'<div class="chart">{pio.to_html(f, full_html=False, include_plotlyjs=False)}</div>'
                       for f in figures)
    parts = [f"<h1>edgepick report: {_e(run.model_name)} (run {_e(run.run_id)})</h1>", _summary(run, sel)]
    from edgepick.store.result import incomplete_note

    if incomplete_note(run):
        parts.insert(1, f'<p class="incomplete" style="color:#a60;font-weight:bold">{_e(incomplete_note(run))}</p>')
    line = device_line((run.request.get("selection") or {}).get("device"))
    if line:
        cls = ' class="estimate"' if "ESTIMATE" in line else ""
        parts.append(f"<p{cls}>{_e(line)}</p>")
    note = platform_note(sel, run)
    if note:
        parts.append(f"<p class=\"estimate\">{_e(note)}</p>")
    from edgepick.report.rigor import rigor_lines  # LoadGen verdicts, top op families, roofline, energy, noise

    rigor = rigor_lines(run.rows, top=5, ops=True)
    parts += ["<h2>Charts</h2>", charts, "<h2>Every candidate</h2>", _candidates(run, sel)]
    if rigor:
        parts += ["<h2>Measurement rigor: where the time goes, % of peak, energy, noise</h2>",
                  f"<pre>{_e(chr(10).join(rigor))}</pre>"]
    parts += ["<h2>Environment fingerprint</h2>", _fingerprint(run), "<h2>Capability matrix</h2>",
              _capabilities(sorted({r["runtime"] for r in run.rows})),
              "<h2>Request</h2>", "<details><summary>the stored request (JSON)</summary>",
              f"<pre>{_e(json.dumps(run.request, indent=1, default=str))}</pre></details>",
              f"<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by edgepick; self-contained, no network.</p>"]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>edgepick {_e(run.model_name)} {_e(run.run_id)}</title><style>{_CSS}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
            + "\n".join(parts) + "</body></html>")


def _summary(run, sel) -> str:
    from edgepick.report.selection import pick_estimate

    head = f"budget <code>{_e(sel.budget or '(none)')}</code>, optimize <code>{_e(sel.objective)}</code>"
    if sel.picked is None:
        body = f"<b>No pick.</b> {_e(sel.verdict)}"
        return f'<p>{head}</p><div class="verdict none">{body}</div>'
    p = sel.picked
    lat = p["latency_ms"]
    body = (f"<b>Pick: {_e(p['key'])}</b>: p50 {lat['p50']:.3f} ms, p90 {lat['p90']:.3f} ms, p99 {lat['p99']:.3f} ms, "
            f"peak RSS {p.get('peak_rss_mb') or 0:.0f} MB, size {p.get('size_mb') or 0:.2f} MB"
            f"<span class=\"estimate\">{_e(pick_estimate(sel))}</span>: {_e(sel.verdict)}.")
    extra = (f"<p>Feasible: {_e(', '.join(sel.feasible))}. Pareto front (latency, accuracy, memory, size): "
             f"{_e(', '.join(sel.front))}.</p>")
    return f'<p>{head}</p><div class="verdict">{body}</div>{extra}'


def _candidates(run, sel) -> str:
    header = ["candidate", "verdict", "why not picked"] + [name for name, _ in COLUMNS] + ["note"]
    rows, classes = [], []
    for r in run.rows:
        picked = sel.picked is not None and r["key"] == sel.picked["key"]
        verdict = "PICK" if picked else ("feasible" if r["key"] in sel.feasible else "rejected")
        rows.append([r["key"], verdict, sel.reasons.get(r["key"], "")] + [fn(r) for _, fn in COLUMNS] + [_note(r)])
        classes.append("pick" if picked else r["status"])
    ref = run.request.get("reference") or run.context.get("reference")
    acc = run.request.get("reference_accuracy")
    ref_line = f"<p>Reference: {_e(ref)}" + (f", accuracy {acc * 100:.2f}%" if acc is not None else "") + "</p>"
    return _table(header, rows, classes, css="cands") + (ref_line if ref else "")


def _fingerprint(run) -> str:
    fp = dict(run.fingerprint)
    versions = fp.pop("versions", {}) or {}
    rows = [[k, ", ".join(v) if isinstance(v, list) else v] for k, v in fp.items()]
    rows += [[f"version: {k}", v or "not installed"] for k, v in versions.items()]
    return _table(["item", "value"], rows)


def _capabilities(runtimes: list[str]) -> str:
    from edgepick.plan.platform import matrix_table

    table = matrix_table(runtimes)
    if table is None:
        return ("<p>Not available: the capability matrix module (edgepick.plan.capabilities) is not installed in this "
                "edgepick, so platforms are not shown here.</p>")
    header, rows = table
    return _table(header, rows)


def write_report(run, out: Path) -> Path:
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        from edgepick.core.errors import UserError

        raise UserError(f"-o {out}: the report is one HTML file; give a name ending in .html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_html(run), encoding="utf-8")
    return out
