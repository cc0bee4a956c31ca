"""The verdict of one measured row (sweep/judge.py), on outputs that differ from the reference only in shape."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from edgepick.sweep.judge import judge
from edgepick.sweep.settings import Settings


def _cand(precision: str):
    return SimpleNamespace(precision=precision, compression=None)


def test_a_reduced_row_with_the_reference_values_in_another_shape_is_judged_not_crashed():
    """Seen on an LSTM OCR: a BF16 row gave [1, T, C] for the reference's [T, 1, C]; the metric crashed the run."""
    rng = np.random.default_rng(0)
    reference = [rng.random((32, 1, 10)).astype(np.float32)]
    outputs = [reference[0].reshape(1, 32, 10) + np.float32(5e-4)]
    request = Settings.of(model="digits-cnn")
    for precision in ("bf16", "fp32"):
        row = {"key": f"x/{precision}/t1/b1"}
        judge(row, _cand(precision), outputs, [], reference, None, request, None)
        assert row["status"] == "ok", row
        assert row["equivalence"]["max_abs_err"] < 1e-3
