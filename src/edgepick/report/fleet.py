"""A fleet run in the terminal and in Markdown: one pick per device and the cross-device table (candidate x device)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

_NO_FLEET = {"devices": [], "emulated": [], "rows": []}


def cross_of(run) -> dict:
    """The cross-device table select/ stored with a fleet run; an empty one for a run on this machine only."""
    return run.decision.get("cross_device") or _NO_FLEET


def _header(name: str, devices: dict, emulated: list[str]) -> str:
    fp = (devices.get(name) or {}).get("fingerprint") or {}
    cpu = fp.get("cpu_model") or fp.get("arch") or "?"
    cores = len(fp.get("device_cores") or []) or fp.get("usable_cores")
    label = f"{name} ({'emulated ' + fp.get('arch', '') if name in emulated else cpu}, {cores} cores"
    return label + (f", {fp['device_memory_mb']:.0f} MB)" if fp.get("device_memory_mb") else ")")


def _cell(entry: dict, name: str) -> str:
    p50 = entry["p50_ms"].get(name)
    if p50 is not None:
        return f"{p50:.4f}"
    return entry["status"].get(name) or "-"


def print_fleet(run, console: Console) -> None:
    devices = run.context.get("devices") or {}
    cross = cross_of(run)
    table = Table(title="p50 ms per device (failed rows show their reason class)", title_justify="left",
                  header_style="bold")
    table.add_column("candidate")
    for name in cross["devices"]:
        table.add_column(_header(name, devices, cross["emulated"]), justify="right")
    picks = {info.get("pick") for info in devices.values()}
    for entry in cross["rows"]:
        cells = []
        for name in cross["devices"]:
            picked = f"{entry['candidate']}@{name}" in picks
            cells.append(Text(("★ " if picked else "") + _cell(entry, name)))
        table.add_row(Text(entry["candidate"]), *cells)
    console.print(table)
    for name, info in devices.items():
        console.print(f"pick on {name}: {info.get('verdict') or 'no pick'}", markup=False, highlight=False)
    if cross["emulated"]:
        console.print(f"emulated (latencies labelled, never picked): {', '.join(cross['emulated'])}", markup=False)


def fleet_markdown(run) -> str:
    cross = cross_of(run)
    if not cross["devices"]:
        return ""
    heads = [f"{n} (emulated: not its real speed)" if n in cross["emulated"] else n for n in cross["devices"]]
    lines = ["", "| candidate | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(cross["devices"])]
    for entry in cross["rows"]:
        lines.append(f"| {entry['candidate']} | " + " | ".join(_cell(entry, n) for n in cross["devices"]) + " |")
    for name, info in (run.context.get("devices") or {}).items():
        lines.append(f"\npick on **{name}**: {info.get('verdict') or 'no pick'}")
    return "\n".join(lines)
