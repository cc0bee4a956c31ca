"""Rich progress bars while a sweep works (on stderr, so --json output stays clean).

The bar appears only once the request is validated and the sweep starts, so a user error prints one line only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def sweep_with_progress(sweep: Callable[[Callable[[str, dict], None]], Any], quiet: bool = False):
    """Run `sweep(on_event)` (sweep.execute with its settings bound by the caller: report/ sits above sweep only in
    the data flow, not in the imports) with a progress bar fed by its events."""
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), disable=quiet)
    task = bar.add_task("", total=None)
    kept = {"run_id": None, "total": None, "rows": 0}  # what the store holds, for the Ctrl-C message

    def on_event(kind: str, info: dict) -> None:
        if kind == "start":
            kept.update(run_id=info["run_id"], total=info["total"], rows=info["resumed"])
        elif kind == "measured":
            kept["rows"] += 1
        if kind == "start":
            bar.start()
            note = f", {info['resumed']} reused from the store" if info["resumed"] else ""
            bar.update(task, total=info["total"], description=f"run {info['run_id']}{note}")
        elif kind == "measuring":
            bar.update(task, description=f"measuring {info['key']}")
        elif kind in ("measured", "reused"):
            bar.advance(task)
        elif kind in ("compressing", "int8-flag") and not quiet:  # compression runs before the bar starts
            bar.console.print(f"{kind}: {info['key']}" + (f" ({info['why']})" if info.get("why") else ""))

    try:
        result = sweep(on_event)
        bar.update(task, description="done")
    except KeyboardInterrupt as e:
        from edgepick.core.errors import SweepInterrupted

        bar.stop()
        raise SweepInterrupted(kept["run_id"], kept["rows"], kept["total"]) from e
    finally:
        bar.stop()
    return result
