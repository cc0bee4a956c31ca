"""The equivalence rule is sound (an absolute floor beside the relative measures) and monotonic across precisions."""

from __future__ import annotations

import numpy as np

from edgepick.core import errors
from edgepick.measure.equivalence import Tolerance, compare, weak_outputs
from edgepick.measure.verdicts import reconcile, violations


def _probability_map(seed: int = 0) -> np.ndarray:
    """A text detector's map on synthetic inputs: ~1e-7 almost everywhere, a few real values."""
    rng = np.random.default_rng(seed)
    ref = (rng.random((2, 1, 32, 32)) * 2e-7).astype(np.float32)
    ref[0, 0, 3, 3] = 1.5e-4
    return ref


def test_fp32_noise_below_the_floor_agrees_whatever_the_cosine():
    """Issue 24, finding 1: max abs error 1.38e-07 with cosine 0.999 was a rejection; it is rounding noise."""
    ref = _probability_map()
    noise = np.random.default_rng(1).choice([-1.38e-7, 1.38e-7], ref.shape).astype(np.float32)
    got = ref + noise
    got[0, 0, 3, 3] = ref[0, 0, 3, 3]
    eq = compare([ref], [got], Tolerance())
    assert eq["cosine"] < 0.9999  # what the old rule rejected on
    assert eq["agrees"], eq
    assert eq["max_abs_err"] < 2e-7


def test_cosine_is_still_judged_above_the_floor():
    ref = np.zeros((4, 1000))
    ref[:, 0] = 100.0  # magnitude 100: the error bound is 0.1001, the floor 1e-4
    got = ref.copy()
    got[:, 1:] = 0.099  # within the max-error bound, far above the floor, a different direction
    eq = compare([ref], [got], Tolerance())
    assert not eq["agrees"] and eq["why"].startswith("cosine"), eq


def test_floor_follows_the_output_dtype_and_magnitude():
    ref = np.full((2, 8), 3e4, dtype=np.float32)
    got = ref + np.float32(0.03)  # 15 float32 ulps at 3e4: far above atol 1e-4, within the floor (16 eps * 3e4)
    assert compare([ref], [got], Tolerance(rtol=0.0))["agrees"]
    half = np.full((2, 8), 100.0, dtype=np.float16)
    near = half + np.float16(0.5)  # 16 ulps of float16 at 100 is ~1.56: inside the floor of a float16 output
    assert compare([half], [near], Tolerance(rtol=0.0))["agrees"]
    assert not compare([half.astype(np.float32)], [near.astype(np.float32)], Tolerance(rtol=0.0))["agrees"]


def test_integer_outputs_are_judged_on_the_share_that_differs():
    ref = np.arange(200, dtype=np.int64).reshape(2, 100)
    got = ref.copy()
    got[0, 0] = -1  # 0.5% differ: a near-tie rounded the other way
    assert compare([ref], [got], Tolerance())["agrees"]
    got[1, :5] = -1
    eq = compare([ref], [got], Tolerance())
    assert not eq["agrees"] and "integer values differ" in eq["why"]


def test_a_different_shape_is_structural_and_has_no_figures():
    eq = compare([np.zeros((32, 1, 10))], [np.zeros((1, 1, 10))], Tolerance())
    assert not eq["agrees"] and eq["structural"] and eq["max_abs_err"] is None


def test_weak_outputs_name_the_near_constant_ones():
    tol = Tolerance()
    assert weak_outputs([_probability_map()], tol) == [
        "output 0 within the floor 0.0001 in 100.0% of its values"]  # all but one of 2,048
    assert weak_outputs([np.full((4, 3), 1e-6)], tol)[0].startswith("output 0 within the floor 0.0001 everywhere")
    assert weak_outputs([np.tile([[1.0, 2.0, 3.0]], (4, 1))], tol) == ["output 0 the same for every sample"]
    assert weak_outputs([np.random.default_rng(0).normal(size=(4, 10))], tol) == []


def _row(key: str, status: str, err: float, cos: float, reason: str | None = None) -> dict:
    runtime, precision = key.split("/")[:2]
    return {"key": key, "runtime": runtime, "precision": precision, "status": status,
            "reason_class": errors.DISAGREES if status == "disagrees" else None, "reason": reason,
            "equivalence": {"max_abs_err": err, "cosine": cos, "top1_agreement": 1.0}}


def test_an_fp32_row_closer_than_a_passing_bf16_row_passes():
    """Issue 24: FP32 rejected at max abs error 1.6 > 1.25 while the BF16 row of the runtime passed with more error."""
    fp32 = _row("tvm/fp32/t2/b1", "disagrees", 1.6, 0.99998, "max abs error 1.6 > 1.25 on output 1")
    bf16 = _row("tvm/bf16/t2/b1", "ok", 9.5, 0.9990)
    rows = [fp32, bf16]
    assert violations(rows)
    assert reconcile(rows) == [fp32]
    assert fp32["status"] == "ok" and "passes beside tvm/bf16/t2/b1" in fp32["notes"][0]
    assert not violations(rows)


def test_an_fp32_row_further_than_a_passing_bf16_row_fails_that_row():
    fp32 = _row("tvm/fp32/t2/b1", "disagrees", 0.5, 0.95, "cosine 0.95000 < 0.9999 on output 0")
    bf16 = _row("tvm/bf16/t2/b1", "ok", 0.1, 0.999)
    other = _row("onnxruntime/bf16/t2/b1", "ok", 0.1, 0.999)  # another runtime: not its twin
    rows = [fp32, bf16, other]
    assert reconcile(rows) == [bf16]
    assert bf16["status"] == "disagrees" and "the copy, not the precision, differs" in bf16["reason"]
    assert other["status"] == "ok" and fp32["status"] == "disagrees"
    assert not violations(rows)


def test_structural_disagreements_are_never_passed_beside_a_reduced_row():
    fp32 = _row("openvino/fp32/t2/b1", "disagrees", 0.0, 1.0, "output 0 has shape (1, 1, 10), reference (32, 1, 10)")
    fp32["equivalence"] = {"max_abs_err": None, "cosine": None, "top1_agreement": None}
    bf16 = _row("openvino/bf16/t2/b1", "ok", 0.1, 0.999)
    reconcile([fp32, bf16])
    assert fp32["status"] == "disagrees"
