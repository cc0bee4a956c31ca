"""A measured row's verdict: ok or disagrees, by the rule its kind of candidate is judged by.

FP32 rows: closeness to the reference (measure/equivalence.py). Compressed and BF16/FP16 rows: the task metric's drop
against FP32 (--metric, --max-acc-drop). Every row: the same outputs and shapes as the reference, which no precision
or accuracy rule can excuse. Across precisions, measure/verdicts.py settles the rest after the sweep.
"""

from __future__ import annotations

import numpy as np

from edgepick.compress import sweep_axis as compress_hooks
from edgepick.convert.stepcheck import blame
from edgepick.core import errors
from edgepick.measure.equivalence import accuracy_top1, compare
from edgepick.plan.precision import REDUCED as REDUCED_PRECISIONS


def judge(row: dict, cand, outputs: list, steps: list, reference: list, labels, request, compress) -> None:
    """Set the row's status (and reason), its equivalence figures and accuracy."""
    tolerance = request.workload.tolerance
    eq = compare(reference, outputs, tolerance)
    row["equivalence"] = {k: eq.get(k) for k in ("max_abs_err", "max_rel_err", "cosine", "top1_agreement")}
    if tolerance.source:
        row["equivalence"]["tolerance"] = tolerance.source
    if eq.get("structural"):  # other outputs or shapes: no precision or accuracy rule can pass that
        row["status"], row["reason_class"], row["reason"] = "disagrees", errors.DISAGREES, eq["why"] + blame(steps)
        return
    # the same values in another shape ([1, T, C] for [T, 1, C]) are compared as compare() read them, so the accuracy
    # and the metric below see the reference's shapes too
    outputs = [np.asarray(o).reshape(np.shape(r)) for o, r in zip(outputs, reference)]
    if labels is not None:
        row["accuracy"] = accuracy_top1(outputs[0], labels)
    if compress is not None and compress_hooks.decide(row, cand, outputs, compress):
        return  # a compressed row passes or fails on the accuracy drop, not on FP32 closeness
    if cand.precision in REDUCED_PRECISIONS and not cand.compression:
        judge_precision(row, outputs, reference, labels, request)
        return  # so does a BF16/FP16 row (plan/precision.py)
    if eq["agrees"]:
        row["status"] = "ok"
    else:
        row["status"], row["reason_class"], row["reason"] = "disagrees", errors.DISAGREES, eq["why"] + blame(steps)


def judge_precision(row: dict, outputs, reference, labels, request) -> None:
    """A BF16/FP16 row passes or fails on the task metric's drop against FP32 (--metric, --max-acc-drop), as a
    compressed row does; the FP32 closeness figures stay in row["equivalence"] for reference."""
    from types import SimpleNamespace

    from edgepick.compress.capped import metric_for_parent
    from edgepick.compress.metrics import parse_drop
    from edgepick.compress.search import judge as judge_drop

    c = request.compression
    metric = metric_for_parent(c.metric, labels is not None, request)  # a module:function runs in a capped worker
    try:
        setup = SimpleNamespace(metric=metric, tolerance=parse_drop(c.max_acc_drop), data=SimpleNamespace(labels=labels),
                                reference=reference, reference_score=metric.score(reference, labels, reference))
        judge_drop(row, outputs, setup)
    except errors.CandidateFailure as failure:  # the --metric callable crashed, hung or ran out of memory
        row["status"], row["reason_class"], row["reason"] = "failed", failure.reason_class, failure.message
    except (ValueError, IndexError, TypeError) as e:  # a built-in metric cannot score these outputs: not comparable
        row["status"], row["reason_class"] = "disagrees", errors.DISAGREES
        row["reason"] = f"the metric cannot score this row's outputs against FP32's: {type(e).__name__}: {e}"


def near_constant_warning(source: str, weak: list[str]) -> str:
    where = "synthetic inputs" if source.startswith("synthetic") else "these eval inputs"
    advice = "pass --data for a meaningful check" if source.startswith("synthetic") else "the check sees little of them"
    return f"outputs near constant on {where}: {advice} ({'; '.join(weak)})"
