"""The HTML report of an `edgepick train` run: step-time distributions, accuracy-vs-training-time curves, memory and
data-pipeline throughput per framework, the comparison table and the chapter's claims; self-contained like the
inference report (plotly's JavaScript inline, no network)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from edgepick.report.html import _CSS, _e, _table

MAX_POINTS = 2000  # step samples drawn per framework (evenly thinned), to keep the file small


def _thin(values: list[float]) -> list[float]:
    if len(values) <= MAX_POINTS:
        return list(values)
    stride = len(values) / MAX_POINTS
    return [values[int(i * stride)] for i in range(MAX_POINTS)]


def _layout(fig, title: str, **kw):
    fig.update_layout(title=title, template="plotly_white", margin={"l": 60, "r": 20, "t": 60, "b": 60},
                      height=kw.pop("height", 420), **kw)
    return fig


def _ok(run) -> list[dict]:
    return [r for r in run.rows if r["status"] == "ok"]


def step_distributions(run):
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in _ok(run):
        samples = r.get("step_samples_ms") or []
        if samples:
            fig.add_trace(go.Box(y=_thin(samples), name=r["framework"], boxpoints="outliers"))
    return _layout(fig, "Step time after warm-up, per framework (ms, every seed's steps)", yaxis_title="ms / step",
                   yaxis_type="log", showlegend=False)


def accuracy_curves(run):
    """One line per framework and seed: held-out accuracy after each epoch against cumulative training time."""
    import plotly.graph_objects as go

    fig = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    for i, r in enumerate(_ok(run)):
        color = palette[i % len(palette)]
        for j, seed in enumerate(r.get("seeds") or []):
            epochs = [e for e in seed.get("epochs") or [] if e.get("accuracy") is not None]
            if not epochs:
                continue
            fig.add_trace(go.Scatter(
                x=[e["train_s"] for e in epochs], y=[e["accuracy"] * 100 for e in epochs], mode="lines+markers",
                name=r["framework"], legendgroup=r["framework"], showlegend=j == 0, line={"color": color},
                hovertemplate=f"{r['framework']} seed {seed.get('seed')}<br>%{{x:.2f}} s<br>%{{y:.2f}}%<extra></extra>"))
    target = (run.request.get("hyperparameters") or {}).get("target_accuracy")
    if target:
        fig.add_hline(y=target * 100, line_dash="dash", line_color="#d62728", annotation_text=f"target {target:.0%}")
    return _layout(fig, "Held-out accuracy vs training time (evaluation excluded), one line per seed",
                   xaxis_title="training time, s", yaxis_title="accuracy, %")


def memory_bars(run):
    import plotly.graph_objects as go

    rows = [r for r in _ok(run) if r.get("peak_rss_mb") is not None]
    names = [r["framework"] for r in rows]
    fig = go.Figure([
        go.Bar(x=names, y=[r.get("import_rss_mb") or 0 for r in rows], name="after import"),
        go.Bar(x=names, y=[r.get("rss_above_import_mb") or 0 for r in rows], name="training, above import")])
    return _layout(fig, "Peak RSS of each training worker (MB)", barmode="stack", yaxis_title="MB")


def pipeline_bars(run):
    import plotly.graph_objects as go

    rows = [r for r in _ok(run) if r.get("data_samples_per_s")]
    names = [r["framework"] for r in rows]
    fig = go.Figure([
        go.Bar(x=names, y=[r["data_samples_per_s"] for r in rows], name="data pipeline alone", marker_color="#2ca02c"),
        go.Bar(x=names, y=[r.get("samples_per_s") or 0 for r in rows], name="training", marker_color="#1f77b4")])
    return _layout(fig, "Data pipeline alone (no model) vs training throughput, samples/s", barmode="group",
                   yaxis_title="samples / s", yaxis_type="log")


def build_train_html(run) -> str:
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    from edgepick.train import report

    figures = [step_distributions(run), memory_bars(run), pipeline_bars(run)]
    if any(r.get("seeds") for r in _ok(run)) and (run.request.get("hyperparameters") or {}).get("target_accuracy"):
        figures.insert(1, accuracy_curves(run))
    charts = "\n".join(f'<div class="chart">{pio.to_html(f, full_html=False, include_plotlyjs=False)}</div>'
                       for f in figures)
    columns = report._columns(run)
    header = [name for name, _ in columns] + ["note"]
    rows = [[fn(r) for _, fn in columns] + [report._note(r)] for r in run.rows]
    fastest = run.context.get("fastest")
    classes = ["pick" if r["framework"] == fastest else r["status"] for r in run.rows]
    claims = [[c["framework"], c["measured_as"], c["training_speed"]["claim"], c["training_speed"]["measured"],
               c["training_speed"]["verdict"], c["ease_of_deployment"]["claim"], c["ease_of_deployment"]["measured"],
               c["ease_of_deployment"]["verdict"]] for c in report.to_json(run)["claims"]]
    title = report._title(run)
    parts = [f"<h1>{_e(title)}</h1>",
             f'<div class="verdict{"" if fastest else " none"}">fastest: <b>{_e(fastest or "none")}</b></div>',
             "<h2>Charts</h2>", charts, "<h2>Every framework</h2>", _table(header, rows, classes, css="cands"),
             "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in report.settings_lines(run)) + "</ul>",
             "<h2>The chapter's claims on this machine</h2>",
             _table(["framework", "measured as", "speed: claim", "measured", "verdict", "deployment: claim",
                     "measured", "verdict"], claims),
             "<h2>Environment fingerprint</h2>",
             _table(["item", "value"], [[k, json.dumps(v, default=str) if isinstance(v, (dict, list)) else v]
                                        for k, v in run.fingerprint.items()]),
             "<h2>Request</h2>", "<details><summary>the stored request (JSON)</summary>",
             f"<pre>{_e(json.dumps(run.request, indent=1, default=str))}</pre></details>",
             f"<p>Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by edgepick; self-contained, no network.</p>"]
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style>"
            f"<script type=\"text/javascript\">{get_plotlyjs()}</script></head><body>"
            + "\n".join(parts) + "</body></html>")


def write_train_report(run, out):
    """`edgepick report` on a stored training run (read from the store by the CLI: a view reaches no runner)."""
    from pathlib import Path

    from edgepick.core.errors import UserError

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"-o {out}: the report is one HTML file; give a name ending in .html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_train_html(run), encoding="utf-8")
    return out
