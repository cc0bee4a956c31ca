"""The report's plotly figures, built from a Run and its Selection. plotly is imported only here, when a report is made."""

from __future__ import annotations

from edgepick.select.checks import latency_of

_COLORS = {"pick": "#d62728", "feasible": "#2ca02c", "rejected": "#7f7f7f"}
MAX_POINTS = 2000  # samples per candidate drawn in the distribution plot (evenly thinned), to keep the file small


def _ok(run) -> list[dict]:
    return [r for r in run.rows if r["status"] == "ok" and r.get("latency_ms")]


def _layout(fig, title: str, **kw):
    fig.update_layout(title=title, template="plotly_white", margin={"l": 60, "r": 20, "t": 60, "b": 60},
                      height=kw.pop("height", 420), **kw)
    return fig


def latency_vs_accuracy(run, sel):
    import plotly.graph_objects as go

    from edgepick.select.budget import parse_budget

    budget = parse_budget(sel.budget)
    scale = (sel.device or {}).get("latency_scale")
    lat_clause = next((c for c in budget.clauses if c.metric in ("p50", "p90", "p99", "mean")), None)
    metric = lat_clause.metric if lat_clause else "p50"
    rows = _ok(run)
    ref = sel.reference_accuracy
    use_acc = any(r.get("accuracy") is not None for r in rows)

    def y_of(r):
        if use_acc:
            return None if r.get("accuracy") is None else r["accuracy"] * 100
        agree = (r.get("equivalence") or {}).get("top1_agreement")
        return None if agree is None else agree * 100

    fig = go.Figure()
    for kind in ("rejected", "feasible", "pick"):
        group = [r for r in rows if _kind(r, sel) == kind]
        if not group:
            continue
        fig.add_trace(go.Scatter(
            x=[latency_of(r, metric, scale)[0] for r in group], y=[y_of(r) for r in group], mode="markers",
            name={"pick": "pick", "feasible": "feasible", "rejected": "rejected / not competing"}[kind],
            text=[r["key"] for r in group], hovertemplate="%{text}<br>%{x:.3f} ms<br>%{y:.2f}%<extra></extra>",
            marker={"size": 16 if kind == "pick" else 10, "color": _COLORS[kind],
                    "symbol": "star" if kind == "pick" else "circle"}))
    front = sorted((r for r in rows if r["key"] in sel.front_all), key=lambda r: latency_of(r, metric, scale)[0])
    if front:
        fig.add_trace(go.Scatter(x=[latency_of(r, metric, scale)[0] for r in front], y=[y_of(r) for r in front],
                                 mode="lines", name="Pareto front (latency, accuracy, memory, size)",
                                 line={"dash": "dot", "color": "#1f77b4"}))
    if lat_clause:
        fig.add_vline(x=lat_clause.value, line_dash="dash", line_color="#d62728",
                      annotation_text=f"budget {lat_clause.text}", annotation_position="top right")
    floor = _accuracy_floor(budget, ref)
    if floor is not None:
        fig.add_hline(y=floor[0], line_dash="dash", line_color="#ff7f0e", annotation_text=floor[1])
    x_title = f"{metric} latency per call (ms)" + (f" — ESTIMATE for {sel.device['name']} (measured x {scale:g})"
                                                   if scale else "")
    y_title = "top-1 accuracy (%)" if use_acc else "top-1 agreement with the reference (%) (no labelled data)"
    # Log latency: one noisy row (a p90 of 90 ms beside 0.02 ms) must not squash every other point into a corner.
    return _layout(fig, "Latency against accuracy", xaxis_title=x_title + " (log scale)", yaxis_title=y_title,
                   xaxis_type="log")


def _accuracy_floor(budget, ref: float | None):
    drop, acc = budget.get("acc_drop"), budget.get("acc")
    if drop and ref is not None:
        return ref * 100 - drop.value, f"budget {drop.text} (reference {ref * 100:.2f}%)"
    if acc:
        return acc.value, f"budget {acc.text}"
    return None


def _kind(row: dict, sel) -> str:
    if sel.picked is not None and row["key"] == sel.picked["key"]:
        return "pick"
    return "feasible" if row["key"] in sel.feasible else "rejected"


def latency_distributions(run):
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in _ok(run):
        samples = r.get("latency_samples_ms") or []
        if not samples:
            continue
        step = max(1, len(samples) // MAX_POINTS)
        fig.add_trace(go.Box(y=samples[::step], name=r["key"], boxpoints=False, boxmean=True))
    note = f" (up to {MAX_POINTS} evenly spaced samples drawn per candidate)"
    return _layout(fig, "Latency distribution per candidate" + note, yaxis_title="ms per call", showlegend=False,
                   yaxis_type="log")


def memory_and_size(run, sel):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = [r for r in run.rows if r.get("peak_rss_mb") is not None or r.get("size_mb") is not None]
    keys = [r["key"] for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("peak resident memory (MB)", "artifact size on disk (MB)"))
    fig.add_trace(go.Bar(x=keys, y=[r.get("peak_rss_mb") for r in rows], name="peak RSS",
                         marker_color=[_bar_color(r) for r in rows]), row=1, col=1)
    fig.add_trace(go.Bar(x=keys, y=[r.get("baseline_rss_mb") for r in rows], name="RSS before loading",
                         marker_color="#c7c7c7"), row=1, col=1)
    fig.add_trace(go.Bar(x=keys, y=[r.get("size_mb") for r in rows], name="size",
                         marker_color=[_bar_color(r) for r in rows]), row=1, col=2)
    cap = (sel.device or {}).get("memory_cap_bytes")
    if cap:
        fig.add_hline(y=cap / 2**20, line_dash="dash", line_color="#d62728", row=1, col=1,
                      annotation_text=f"{sel.device['name']} memory cap")
    return _layout(fig, "Memory and size (red bars: failed or disagreeing rows)", barmode="overlay", height=460)


def _bar_color(row: dict) -> str:
    return "#1f77b4" if row["status"] == "ok" else "#d62728"


def scaling(run):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rows = _ok(run)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("p50 latency vs threads (smallest batch)",
                                                        "throughput vs batch size"))
    if rows:
        smallest = min(r["batch"] for r in rows)
        palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
        for i, (rt, prec) in enumerate(sorted({(r["runtime"], r["precision"]) for r in rows})):
            color = {"color": palette[i % len(palette)]}
            mine = sorted((r for r in rows if (r["runtime"], r["precision"]) == (rt, prec) and r["batch"] == smallest),
                          key=lambda r: r["threads"])
            if mine:
                fig.add_trace(go.Scatter(x=[r["threads"] for r in mine], y=[r["latency_ms"]["p50"] for r in mine],
                                         mode="lines+markers", name=f"{rt} {prec}", legendgroup=rt, line=color,
                                         marker=color), row=1, col=1)
            for t in sorted({r["threads"] for r in rows}):
                by_batch = sorted((r for r in rows if (r["runtime"], r["precision"], r["threads"]) == (rt, prec, t)),
                                  key=lambda r: r["batch"])
                if by_batch:
                    fig.add_trace(go.Scatter(x=[r["batch"] for r in by_batch], y=[r["throughput_per_s"] for r in by_batch],
                                             mode="lines+markers", name=f"{rt} {prec} t{t}", legendgroup=rt,
                                             showlegend=False, line=color, marker=color), row=1, col=2)
    fig.update_xaxes(title_text="threads", dtick=1, row=1, col=1)
    fig.update_xaxes(title_text="batch size", type="log", row=1, col=2)
    fig.update_yaxes(title_text="ms", row=1, col=1)
    fig.update_yaxes(title_text="items/s", row=1, col=2)
    return _layout(fig, "Thread and batch scaling", height=440)


def speedup(run):
    """p50 of torch-eager fp32 at the same threads and batch, divided by each candidate's p50."""
    import plotly.graph_objects as go

    rows = _ok(run)
    base = {(r["threads"], r["batch"]): r for r in rows if r["runtime"] == "torch-eager" and r["precision"] == "fp32"}
    pairs = [(r, base[(r["threads"], r["batch"])]) for r in rows if (r["threads"], r["batch"]) in base]
    fig = go.Figure()
    if pairs:
        fig.add_trace(go.Bar(x=[r["key"] for r, _ in pairs],
                             y=[b["latency_ms"]["p50"] / r["latency_ms"]["p50"] for r, b in pairs],
                             text=[f"{b['latency_ms']['p50'] / r['latency_ms']['p50']:.2f}x" for r, b in pairs],
                             marker_color="#2ca02c"))
        fig.add_hline(y=1.0, line_dash="dot", annotation_text="torch-eager fp32 baseline")
        title = "Speed-up over PyTorch eager FP32 (same threads and batch; p50)"
    else:
        title = "Speed-up over PyTorch eager FP32: no torch-eager fp32 row ran in this run"
    return _layout(fig, title, yaxis_title="x faster (baseline p50 / candidate p50)")


def cross_device_heatmap(run):
    """A fleet run's cross-device table (candidate x device p50) as a heatmap; None for a run on this machine only.

    A failed cell is blank with its reason class written in; an emulated device's column says so in its label, since
    its latencies are the translating host's, not the chip's."""
    import plotly.graph_objects as go

    from edgepick.report.fleet import cross_of

    table = cross_of(run)
    if not table["devices"]:
        return None
    devices, entries = table["devices"], table["rows"]
    z = [[e["p50_ms"].get(d) for d in devices] for e in entries]
    text = [[f"{e['p50_ms'][d]:.4g}" if e["p50_ms"].get(d) is not None else (e["status"].get(d) or "-")
             for d in devices] for e in entries]
    labels = [f"{d} (emulated)" if d in table["emulated"] else d for d in devices]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=[e["candidate"] for e in entries], text=text,
                               texttemplate="%{text}", colorscale="Viridis", reversescale=True,
                               colorbar={"title": "p50 ms"}, hoverongaps=False,
                               hovertemplate="%{y} on %{x}: %{text}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "p50 per device (ms; lower is better, blank = failed, its reason written in)",
                   height=max(300, 60 + 40 * len(entries)), xaxis_title="device", yaxis_title="candidate")
