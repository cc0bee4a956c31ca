"""The long form: the full rich table, the per-row details and the pick with every reason (`show --wide/--details`).

The short answer that `run` and `show` print by default is report/summary.py.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from edgepick.report.columns import COLUMNS, _note

_STYLE = {"ok": "green", "failed": "red", "disagrees": "yellow", "pruned": "dim"}


def wide_console() -> Console:
    # Piped output (CI logs, `| tee`) has no terminal width; 80 columns would truncate every number.
    return Console() if sys.stdout.isatty() else Console(width=220)


def print_run(run, console: Console | None = None, table: bool = True, details: bool = True) -> None:
    """The long form (`show --wide` / `--details`; both: what `run` printed before the short answer): the full table
    and/or every row's detail lines, then the pick with the reason each other row lost."""
    console = console or wide_console()
    from edgepick.store.result import incomplete_note

    if incomplete_note(run):
        console.print(incomplete_note(run), style="bold yellow", markup=False, highlight=False, soft_wrap=True)
    if table:
        console.print(full_table(run))
    if details:
        from edgepick.report.rigor import rigor_lines

        for line in rigor_lines(run.rows):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    ctx = run.context
    if ctx.get("reference"):
        acc = ctx.get("reference_accuracy")
        console.print(f"reference: {ctx['reference']}" + (f", accuracy {acc * 100:.2f}%" if acc is not None else "")
                      + f"; eval data: {ctx.get('data')}", markup=False)
    print_pick(run, console)


def full_table(run) -> Table:
    """Every row, every column (17 today, more with a frame loop): too wide for a terminal's first look."""
    fp = run.fingerprint
    title = f"edgepick run {run.run_id} · {run.model_name} · {fp.get('cpu_model')} · {fp.get('usable_cores')} cores"
    table = Table(title=title, title_justify="left", header_style="bold")
    from edgepick.report.realtime import realtime_columns

    columns = COLUMNS + realtime_columns(run.rows)  # e2e p99, miss %, model % when a frame loop was measured
    for name, _ in columns:
        table.add_column(name, justify="left" if name in ("runtime", "status") else "right", no_wrap=True)
    table.add_column("note")
    for row in run.rows:
        picked = run.picked is not None and row["key"] == run.picked["key"]
        cells = [fn(row) for _, fn in columns]
        if picked:
            cells[0] = f"★ {cells[0]}"
        # Text cells: reasons quote install hints like edgepick[litert-torch], which markup would swallow.
        table.add_row(*(Text(c) for c in cells), Text(_note(row)), style=_STYLE.get(row["status"]))
    return table


def print_pick(run, console: Console) -> None:
    if run.context.get("devices"):  # --on: one pick per device, printed with the cross-device table (report/fleet.py)
        return
    if any((run.request.get("selection") or {}).values()):  # a budget, objective or device: explain the selection
        from edgepick.report.selection import print_selection

        print_selection(run, console)
        return
    if run.picked is None:
        console.print("[bold red]no pick:[/] no candidate ran and agreed with the reference")
        return
    p = run.picked
    lat = p["latency_ms"]
    from edgepick.measure.noise import best_ci

    (lo, hi), how = best_ci(lat)
    console.print(f"[bold]pick:[/] {escape(p['runtime'])} ({p['precision']}, {p['threads']} threads, batch {p['batch']}): "
                  f"p50 {lat['p50']:.4g} ms (95% CI {lo:.4g}–{hi:.4g}, {escape(how)}), p99 {lat['p99']:.3f} ms: the fastest median "
                  "among candidates that agree with the reference")
    for key, why in run.reasons.items():
        console.print(f"  not {key}: {why}", markup=False, highlight=False)
