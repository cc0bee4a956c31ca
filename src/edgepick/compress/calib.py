"""The calibration set: which samples a static quantizer saw, recorded with every row it produced."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepick.inputs.data import arrays_sha256, check_against_signature, read_data_arg

DEFAULT_CALIB_SIZE = 128
CALIB_SEED = 0


@dataclass
class CalibrationSet:
    inputs: dict[str, np.ndarray]  # name -> N x per-sample shape
    source: str
    seed: int | None
    sha256: str

    @property
    def size(self) -> int:
        return len(next(iter(self.inputs.values())))

    def describe(self) -> dict:
        return {"source": self.source, "size": self.size, "seed": self.seed, "sha256": self.sha256}

    def batches(self, batch: int = 1):
        """Dicts of `batch` samples each, in order (quantizers' calibration readers take one batch at a time)."""
        for start in range(0, self.size, batch):
            yield {k: v[start:start + batch] for k, v in self.inputs.items()}


def calibration_set(calib_arg, eval_inputs: dict[str, np.ndarray], eval_source: str, signature,
                    size: int = DEFAULT_CALIB_SIZE) -> CalibrationSet:
    """--calib data when given (same forms as --data), else a fixed-seed subset of the eval data.

    The default reuses eval samples, which flatters accuracy a little; the row says so through `source`.
    """
    if calib_arg is not None:
        x, _, source = read_data_arg(calib_arg, signature, size)
        check_against_signature(x, signature, source)
        return CalibrationSet(x, source, None, arrays_sha256(x))
    n = len(next(iter(eval_inputs.values())))
    take = min(size, n)
    idx = np.sort(np.random.default_rng(CALIB_SEED).choice(n, size=take, replace=False))
    x = {k: np.ascontiguousarray(v[idx]) for k, v in eval_inputs.items()}
    return CalibrationSet(x, f"subset of the eval data ({eval_source})", CALIB_SEED, arrays_sha256(x))
