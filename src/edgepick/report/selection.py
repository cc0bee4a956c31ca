"""The selection explained in the terminal: budget, device, feasible set, Pareto front, the pick, every rejection."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgepick.select.decision import explained
from edgepick.select.explain import Selection


def selection_of(run) -> Selection:
    """The selection stored with the run (select/decision.py): a view shows it, it never decides again."""
    return explained(run)


def device_line(device: dict | None) -> str | None:
    if not device:
        return None
    from edgepick.select.checks import human_mb

    parts = [f"{device['cores']} cores", f"threads {','.join(map(str, device['threads']))}"]
    if device.get("memory_cap_bytes"):
        cap = device["memory_cap_bytes"]
        parts.append(f"memory cap {human_mb(cap / 2**20, cap % 10**6 == 0)}")
    if device.get("storage_cap_bytes"):
        cap = device["storage_cap_bytes"]
        parts.append(f"storage cap {human_mb(cap / 2**20, cap % 10**6 == 0)}")
    if device.get("platform"):
        parts.append(f"platform {device['platform']}")
    if device.get("latency_scale"):
        parts.append(f"latency x {device['latency_scale']:g} (an ESTIMATE of the target's speed, not a measurement)")
    return f"device {device['name']}: " + ", ".join(parts)


def pick_estimate(sel: Selection) -> str:
    """The pick's latency scaled to the device, labelled as the estimate it is ('' without a scale factor)."""
    scale = (sel.device or {}).get("latency_scale")
    if not scale or sel.picked is None:
        return ""
    lat = sel.picked["latency_ms"]
    return (f" [ESTIMATE on {sel.device['name']}: p50 {lat['p50'] * scale:.3g} ms, p90 {lat['p90'] * scale:.3g} ms "
            f"= measured here x {scale:g}]")


def platform_note(sel: Selection, run) -> str | None:
    from edgepick.plan.platform import matrix_available

    platform = run.request.get("platform") or (sel.device or {}).get("platform")
    if not platform:
        return None
    if not matrix_available():
        return (f"platform {platform} was not checked: the capability matrix (edgepick.plan.capabilities) "
                "is not available, so no runtime was filtered out by platform")
    dropped = sorted({r["runtime"] for r in run.rows if r.get("reason_class") == "platform"})
    return (f"platform {platform}: runtimes checked against the capability matrix; "
            + (f"dropped: {', '.join(dropped)}" if dropped else "every runtime in this run deploys there"))


def print_selection(run, console: Console) -> None:
    sel = selection_of(run)
    settings = run.request.get("selection") or {}
    mechanisms = sorted({(r.get("memory_cap") or {}).get("mechanism") for r in run.rows} - {None})
    head = [f"budget {sel.budget or '(none)'}", f"optimize {sel.objective}"]
    console.print("[bold]selection:[/] " + "; ".join(head))
    line = device_line(settings.get("device"))
    if line:
        console.print("  " + line + (f"; memory cap enforced by {', '.join(mechanisms)}" if mechanisms else ""))
    note = platform_note(sel, run)
    if note:
        console.print(f"  [yellow]{note}[/]")
    console.print(f"  feasible: {', '.join(sel.feasible) or 'none'}")
    console.print(f"  Pareto front (latency, accuracy, memory, size): {', '.join(sel.front or sel.front_all) or '-'}")
    if sel.picked is None:
        console.print(f"[bold red]no pick:[/] {escape(sel.verdict)}")
    else:
        p = sel.picked
        lat = p["latency_ms"]
        console.print(f"[bold]pick:[/] {p['key']}: p50 {lat['p50']:.3f} ms, p90 {lat['p90']:.3f} ms, "
                      f"peak RSS {p.get('peak_rss_mb') or 0:.0f} MB, size {p.get('size_mb') or 0:.2f} MB"
                      f"{escape(pick_estimate(sel))}: {escape(sel.verdict)}")
    table = Table(title="rejected", title_justify="left", header_style="bold", show_edge=False)
    table.add_column("candidate", no_wrap=True)
    table.add_column("why not")
    for key, why in sel.reasons.items():
        table.add_row(key, escape(why))
    if sel.reasons:
        console.print(table)


def markdown_lines(run) -> list[str]:
    sel = selection_of(run)
    out = [f"Budget `{sel.budget or '(none)'}`, optimize `{sel.objective}`."]
    line = device_line((run.request.get("selection") or {}).get("device"))
    if line:
        out.append(f"{line}.")
    out.append(f"Pick: **{sel.picked['key']}**, {sel.verdict}." if sel.picked else f"No pick: {sel.verdict}.")
    out += ["", "| rejected | why |", "|---|---|"]
    out += [f"| {key} | {why.replace('|', chr(92) + '|')} |" for key, why in sel.reasons.items()]
    return out
