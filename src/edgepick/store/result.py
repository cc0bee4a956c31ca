"""The Run object (what `edgepick.pick` returns) and its stable JSON schema."""

from __future__ import annotations

from dataclasses import dataclass, field

from edgepick.core.rows import FIELDS, CandidateRow, from_db, to_json

SCHEMA = "edgepick.run/1"

# The fields every candidate carries in --json output, in this order: declared once, in core/rows.py (PublicRow).
CANDIDATE_FIELDS = FIELDS
row_from_db = from_db  # the name benchmarks and older tests import


@dataclass
class Run:
    run_id: str
    model_name: str
    model_hash: str
    request: dict
    fingerprint: dict
    rows: list[CandidateRow]
    picked: dict | None
    reasons: dict[str, str]
    context: dict = field(default_factory=dict)  # reference description and accuracy, data source

    @property
    def pick(self) -> dict | None:
        return self.picked

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "model": {"name": self.model_name, "hash": self.model_hash, "input_format": self.request.get("input_format"),
                      "signature": self.request.get("signature")},
            "reference": self.context.get("reference"),
            "reference_accuracy": self.context.get("reference_accuracy"),
            "compression": self.context.get("compression"),  # metric, tolerance, calibration set (issue 4)
            "data": self.context.get("data") or self.request.get("data_source"),
            "fingerprint": self.fingerprint,
            "pick": self.picked["key"] if self.picked else None,
            "selection": self._selection(),  # budget, objective, device; feasible set, Pareto front, verdict
            "candidates": [to_json(r, self.reasons.get(r["key"])) for r in self.rows],
            "incomplete": self.context.get("incomplete"),  # None for a finished run (issue 11)
            **self._fleet(),
        }

    def _fleet(self) -> dict:
        """--on runs: each device's pick and fingerprint, and the cross-device table (select/devices.py)."""
        if not self.context.get("devices"):
            return {}
        from edgepick.select.devices import cross_device

        return {"devices": self.context["devices"], "cross_device": cross_device(self.rows)}


    def _selection(self) -> dict:
        from edgepick.select.explain import select_with

        settings = self.request.get("selection") or {}
        derived = select_with(self.rows, settings, self.request.get("reference_accuracy")).to_dict()
        derived.pop("reasons")  # already in each candidate's not_picked_because
        return {**derived, "device": settings.get("device")}


def run_from_db(run_row) -> Run:
    from edgepick.select.pick import pick

    rows = [from_db(c) for c in run_row.candidates]
    req = run_row.request
    chosen, reasons = pick(rows, req.get("selection"), req.get("reference_accuracy"))
    if req.get("devices"):  # a fleet run: one pick per device
        from edgepick.select.devices import pick_per_device

        chosen, reasons, _ = pick_per_device(rows, req.get("selection"), req.get("reference_accuracy"))
    return Run(run_row.id, run_row.model_name, run_row.model_hash, req, run_row.fingerprint, rows,
               chosen, reasons, {"data": req.get("data_source"), "reference": req.get("reference"),
                                 "reference_accuracy": req.get("reference_accuracy"),
                                 **({"compression": req["compression"]} if req.get("compression") else {}),
                                 **({"devices": req["devices"]} if req.get("devices") else {}),
                                 "incomplete": _incomplete(run_row, len(rows))})


def _incomplete(run_row, measured: int) -> dict | None:
    """A run the store has not marked done (interrupted, killed, or still running): how many rows are missing."""
    if run_row.status == "done":
        return None
    expected = run_row.request.get("expected_rows")
    return {"status": run_row.status, "measured": measured, "expected": expected,
            "missing": None if expected is None else max(0, expected - measured)}


def incomplete_note(run) -> str | None:
    """One line for every output of an unfinished run: its pick is from the rows measured so far only."""
    info = run.context.get("incomplete")
    if not info:
        return None
    missing = f"{info['missing']} of {info['expected']} rows missing" if info.get("expected") is not None else \
        "rows missing"
    return (f"INCOMPLETE run ({info['status']}, interrupted or still running): {info['measured']} rows measured, "
            f"{missing}; the pick below is among the measured rows only. Run the same command again to resume")
