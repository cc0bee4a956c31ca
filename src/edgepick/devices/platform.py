"""Which runtimes deploy to a device's platform: the hook into the capability matrix (edgepick.capabilities).

The matrix itself is kept (with sources) by edgepick.capabilities; this module only asks it. When that module is
absent or cannot answer, no runtime is filtered out and the selection says so, rather than guessing a matrix here.
"""

from __future__ import annotations

import importlib


def _matrix():
    try:
        return importlib.import_module("edgepick.capabilities")
    except ImportError:
        return None


def platform_verdicts(platform: str, runtimes: list[str]) -> dict[str, str | None] | None:
    """{runtime: None if it deploys to `platform`, else the reason it does not}; None when no matrix is available."""
    caps = _matrix()
    if caps is None:
        return None
    ask = getattr(caps, "platform_verdicts", None) or getattr(caps, "deploys_to", None)
    if ask is None:
        return None
    verdicts = {}
    for name in runtimes:
        got = ask(name, platform)
        # Accept either a reason (None/"" = deploys) or (deploys: bool, reason/source: str).
        if isinstance(got, tuple):
            deploys, why = got[0], got[1] if len(got) > 1 else ""
            verdicts[name] = None if deploys else f"{name} does not deploy to {platform}: {why} (capability matrix)"
        else:
            verdicts[name] = f"{name} does not deploy to {platform}: {got} (capability matrix)" if got else None
    return verdicts


def matrix_available() -> bool:
    return _matrix() is not None


def matrix_table() -> tuple[list[str], list[list[str]]] | None:
    """(header, rows) for reports, when the capability module offers a table."""
    caps = _matrix()
    table = getattr(caps, "matrix_table", None) if caps else None
    return table() if table else None
