"""The pick without a budget: the fastest median latency among rows that agree with the reference.

Only rows at the smallest batch size compete, because a latency pick compares like with like; larger batches
are reported for throughput. Every other row gets the reason it lost. A budget, a device profile or another
objective (see select/explain.py, the one selection path this delegates to) filter and re-rank the same rows.
"""

from __future__ import annotations


def pick(rows: list[dict], settings: dict | None = None,
         reference_accuracy: float | None = None) -> tuple[dict | None, dict[str, str]]:
    """Return (the picked row or None, {row key: reason it was not picked})."""
    from edgepick.select.explain import select_with

    selection = select_with(rows, settings, reference_accuracy)
    return selection.picked, selection.reasons
