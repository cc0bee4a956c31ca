"""A Markdown table of a Run, for pasting into issues and READMEs."""

from __future__ import annotations

from edgepick.report.columns import COLUMNS, _note


def to_markdown(run) -> str:
    from edgepick.report.realtime import realtime_columns

    columns = COLUMNS + realtime_columns(run.rows)
    head = [name for name, _ in columns] + ["note"]
    lines = [f"### edgepick run {run.run_id}: {run.model_name}", "",
             "| " + " | ".join(h.replace("|", "\\|") for h in head) + " |", "|" + "---|" * len(head)]
    from edgepick.store.result import incomplete_note

    if incomplete_note(run):
        lines[1:1] = ["", f"**{incomplete_note(run)}**"]
    for row in run.rows:
        cells = [fn(row) for _, fn in columns] + [_note(row)]
        if run.picked is not None and row["key"] == run.picked["key"]:
            cells[0] = f"**{cells[0]}** (pick)"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    from edgepick.report.rigor import rigor_lines

    extra = rigor_lines(run.rows)
    if extra:
        lines += ["", "```", *extra, "```"]
    if any((run.request.get("selection") or {}).values()):  # budget / objective / device: say how it was chosen
        from edgepick.report.selection import markdown_lines

        lines += ["", *markdown_lines(run)]
    elif run.picked:
        lines += ["", f"Pick: **{run.picked['key']}**, the fastest p50 among candidates that agree with the reference."]
    return "\n".join(lines) + "\n"
