"""The decision stored with a run: the pick, why every other row lost, the explained selection, the fleet tables.

select/ decides once, at the end of the sweep, and the store saves the result with the run (request["decision"]);
`show`, `report`, `compare`, `serve` and `export` read it back. Runs stored before the decision was saved have none:
`settle` makes it from their rows, the same way the sweep does, so their output does not change.
"""

from __future__ import annotations

from edgepick.select.explain import Selection, select_with
from edgepick.select.fleet import cross_device, pick_per_device


def decide(rows: list[dict], settings: dict | None, reference_accuracy: float | None, fleet: bool = False) -> dict:
    """{"pick": key or None, "reasons": {key: why}, "selection": {...}, and for a fleet run "cross_device"}."""
    settings = settings or {}
    explained = select_with(rows, settings, reference_accuracy)
    chosen, reasons = explained.picked, explained.reasons
    if fleet:  # one pick per device (select/fleet.py); there is no single pick across devices
        chosen, reasons, _ = pick_per_device(rows, settings, reference_accuracy)
    # the explanation keeps its own reasons: on a fleet run they are the ones across devices that `show --wide` lists
    decision = {"pick": chosen["key"] if chosen else None, "reasons": reasons,
                "selection": {**explained.to_dict(), "device": settings.get("device")}}
    if fleet:
        decision["cross_device"] = cross_device(rows)
    return decision


def settle(run):
    """The run with its decision: the stored one, or (a run stored before decisions were saved) one made now."""
    if run.decision is None:
        fleet = bool(run.request.get("devices"))
        run.decision = decide(run.rows, run.request.get("selection"), run.request.get("reference_accuracy"), fleet)
    return run


def explained(run) -> Selection:
    """The stored selection as the object the views read (the picked row itself, the device's profile), not re-made."""
    shown = run.decision["selection"]
    by_key = {r["key"]: r for r in run.rows}
    return Selection(by_key.get(shown["pick"]), shown["reasons"], feasible=shown["feasible"],
                     front=shown["pareto_front"], front_all=shown["pareto_front_all"], verdict=shown["verdict"],
                     nearest=shown["nearest"], binding=shown["binding"], clause_counts=shown["clause_counts"],
                     budget=shown["budget"] or "", objective=shown["objective"], device=shown["device"],
                     reference_accuracy=run.request.get("reference_accuracy"))
