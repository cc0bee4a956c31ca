"""What every compressed candidate of one run shares (built by compress/capped.setup, rebuilt in each worker)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgepick.compress.calib import CalibrationSet
from edgepick.compress.metrics import DropTolerance, Metric


@dataclass
class CompressSetup:
    """Everything compressed candidates share within one run."""

    metric: Metric
    tolerance: DropTolerance
    calibration: CalibrationSet
    reference_score: float
    train: tuple | None
    spec: object
    data: object
    reference: list
    artifacts_root: Path
    threads: int
    request: object = None  # the parent's Request (its step limits), set by compress/capped.setup
    context: dict | None = None  # the context folder the workers read (compress/context.py); None inside a worker
    steps: object = None  # where produce/sensitivity run: compress/capped.InWorkers in the parent; None: right here

    def describe(self) -> dict:
        return {"metric": self.metric.name, "tolerance": self.tolerance.to_dict(), "reference_score": self.reference_score,
                "calibration": self.calibration.describe(), "train_samples": len(self.train[0]) if self.train else 0}
