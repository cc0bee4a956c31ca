"""Rich progress while a sweep works (on stderr, so --json output stays clean): where the time goes.

One bar per phase (convert, then probe/measure), each with its elapsed time and an estimate of what is left, and
the candidate being worked on with its own running time. When the sweep ends, one line splits the wall time into
the phases (load + reference, conversions, probes and measurements, the passes after them) and says how much the
search pruned. The bars appear only once the request is validated and the sweep starts, so a user error prints one
line only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text


class _Current(ProgressColumn):
    """The candidate (or conversion) in hand and how long it has run so far."""

    def render(self, task) -> Text:
        what, since = task.fields.get("current"), task.fields.get("since")
        if not what or since is None or task.finished:
            return Text("")
        return Text(f"{what} {time.monotonic() - since:.0f}s", style="dim")


class Phases:
    """Wall-clock time per phase from the sweep's events; also what benchmarks/speed.py reads."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.marks: dict[str, float] = {}
        self.last: dict[str, str] = {}  # key -> its row's latest status (a row judged or measured again says twice)

    def on(self, kind: str, info: dict) -> None:
        now = time.monotonic() - self.t0
        if kind == "start":
            self.marks["start"] = now
        elif kind == "phase":
            self.marks.setdefault(f"{info['name']}_start", now)
        elif kind in ("measuring", "reused"):
            self.marks.setdefault("measure_start", now)
        elif kind == "measured":
            self.marks["measure_end"] = now
            self.last[info["key"]] = info["status"]

    @property
    def statuses(self) -> dict[str, int]:
        """Rows per status, each row counted once, at its latest status."""
        out: dict[str, int] = {}
        for status in self.last.values():
            out[status] = out.get(status, 0) + 1
        return out

    def split(self, total_s: float | None = None) -> dict[str, float]:
        """Seconds per phase: load_reference, convert, measure (probes and measurements), after (passes, the pick)."""
        m, end = self.marks, total_s if total_s is not None else time.monotonic() - self.t0
        start = m.get("start", 0.0)
        measure_start = m.get("measure_start", start)
        measure_end = m.get("measure_end", measure_start)
        # conversions run ahead of the first measurement; the history look-up before them is counted with them
        return {"load_reference": start, "convert": max(0.0, measure_start - start),
                "measure": measure_end - measure_start, "after": max(0.0, end - measure_end)}

    def line(self) -> str:
        s = self.split()
        pruned = self.statuses.get("pruned", 0)
        counted = ", ".join(f"{n} {k}" for k, n in sorted(self.statuses.items()))
        return (f"time: load + reference {s['load_reference']:.0f} s, conversions {s['convert']:.0f} s, probes and "
                f"measurements {s['measure']:.0f} s ({counted}), after {s['after']:.0f} s"
                + (f"; {pruned} pruned by their probes (--exhaustive measures them)" if pruned else ""))


def sweep_with_progress(sweep: Callable[[Callable[[str, dict], None]], Any], quiet: bool = False):
    """Run `sweep(on_event)` (sweep.execute with its settings bound by the caller: report/ sits above sweep only in
    the data flow, not in the imports) with progress bars fed by its events."""
    console = Console(stderr=True)
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("left"), TimeRemainingColumn(), _Current(), console=console, disable=quiet)
    tasks: dict[str, Any] = {}
    kept = {"run_id": None, "total": None, "rows": 0, "seen": set()}  # what the store holds, for the Ctrl-C message
    phases = Phases()

    def task(name: str, total: int | None):
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total, current=None, since=None)
        else:
            bar.update(tasks[name], total=total)
        return tasks[name]

    def on_event(kind: str, info: dict) -> None:
        phases.on(kind, info)
        if kind == "start":
            kept.update(run_id=info["run_id"], total=info["total"], rows=info["resumed"])
            bar.start()
            note = f", {info['resumed']} reused from the store" if info["resumed"] else ""
            if not quiet:
                bar.console.print(f"run {info['run_id']}: {info['total']} candidates{note}", style="dim")
        elif kind == "phase" and info["name"] == "convert":
            task("convert", info["total"])
        elif kind == "converting":
            bar.update(task("convert", None), current=info["key"], since=time.monotonic())
        elif kind == "converted":
            bar.advance(task("convert", None))
        elif kind == "measuring":  # the measure bar comes after the convert bar: made at its first candidate
            label = "probe + measure" if info.get("phase") == "probe" else "measure"
            bar.update(task("measure", kept["total"]), description=label, current=info["key"], since=time.monotonic())
        elif kind in ("measured", "reused") and info["key"] not in kept["seen"]:  # a row measured again: once
            kept["seen"].add(info["key"])
            kept["rows"] += kind == "measured"
            bar.advance(task("measure", kept["total"]))
        elif kind == "predicted" and not quiet:
            then = "skipped (--trust-history)" if info["skipped"] else "measured all the same"
            bar.console.print(f"this CPU's earlier runs predict these lose: {', '.join(info['loses'])}; {then}",
                              style="dim", highlight=False)
        elif kind in ("compressing", "int8-flag") and not quiet:  # compression runs before the bar starts
            bar.console.print(f"{kind}: {info['key']}" + (f" ({info['why']})" if info.get("why") else ""))

    try:
        result = sweep(on_event)
        for t in tasks.values():
            bar.update(t, current=None)
        bar.stop()
        if not quiet:
            console.print(phases.line(), style="dim", highlight=False)
    except KeyboardInterrupt as e:
        from edgepick.core.errors import SweepInterrupted

        bar.stop()
        raise SweepInterrupted(kept["run_id"], kept["rows"], kept["total"]) from e
    finally:
        bar.stop()
    return result
