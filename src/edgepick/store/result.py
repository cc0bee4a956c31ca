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
    """A run as stored: its rows and the decision select/ made for them (select/decision.py), never re-made here.

    `decision` is None only for a run stored before decisions were saved, until select/decision.settle fills it."""

    run_id: str
    model_name: str
    model_hash: str
    request: dict
    fingerprint: dict
    rows: list[CandidateRow]
    decision: dict | None  # {"pick", "reasons", "selection", and for fleet runs "cross_device"}
    context: dict = field(default_factory=dict)  # reference description and accuracy, data source

    @property
    def picked(self) -> dict | None:
        key = (self.decision or {}).get("pick")
        return next((r for r in self.rows if r["key"] == key), None)

    @property
    def pick(self) -> dict | None:
        return self.picked

    @property
    def reasons(self) -> dict[str, str]:
        return (self.decision or {}).get("reasons") or {}

    def to_json(self) -> dict:
        if self.decision is None:
            raise RuntimeError(f"run {self.run_id} has no decision yet: select.decision.settle(run) makes one")
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
            "pick": self.decision["pick"],
            # budget, objective, device; feasible set, Pareto front, verdict (each row carries its own reason)
            "selection": {k: v for k, v in self.decision["selection"].items() if k != "reasons"},
            "candidates": [to_json(r, self.reasons.get(r["key"])) for r in self.rows],
            "incomplete": self.context.get("incomplete"),  # None for a finished run (issue 11)
            **self._fleet(),
        }

    def _fleet(self) -> dict:
        """--on runs: each device's pick and fingerprint, and the cross-device table (select/fleet.py)."""
        if not self.context.get("devices"):
            return {}
        return {"devices": self.context["devices"], "cross_device": self.decision.get("cross_device")}


def run_from_db(run_row) -> Run:
    """The stored run with its saved decision (None for a run stored before decisions were saved)."""
    rows = [from_db(c) for c in run_row.candidates]
    req = run_row.request
    return Run(run_row.id, run_row.model_name, run_row.model_hash, req, run_row.fingerprint, rows,
               req.get("decision"), {"data": req.get("data_source"), "reference": req.get("reference"),
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
