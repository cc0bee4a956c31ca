"""Accuracy metrics for compressed candidates, and the tolerance on how much a compression may lose.

Every metric is "higher is better" so that one drop rule serves all: MSE is reported negated internally and
shown as MSE. A drop is measured against the FP32 reference's own score on the same data.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgepick.core.errors import UserError


@dataclass
class Metric:
    name: str
    fn: Callable  # (outputs, labels, reference) -> float, higher is better
    needs_labels: bool = False

    def score(self, outputs: list[np.ndarray], labels, reference: list[np.ndarray]) -> float:
        return float(self.fn(outputs, labels, reference))


def _top_k(k: int):
    def score(outputs, labels, reference):
        logits = np.asarray(outputs[0]).reshape(len(labels), -1)
        top = np.argsort(-logits, axis=1)[:, :k]
        return float((top == np.asarray(labels)[:, None]).any(axis=1).mean())
    return score


def _cosine(outputs, labels, reference):
    """Mean per-sample cosine of the first output against the reference's (embeddings, logits)."""
    a = np.asarray(outputs[0], dtype=np.float64).reshape(len(outputs[0]), -1)
    b = np.asarray(reference[0], dtype=np.float64).reshape(len(reference[0]), -1)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)))


def _neg_mse(outputs, labels, reference):
    return -float(np.mean((np.asarray(outputs[0], np.float64) - np.asarray(reference[0], np.float64)) ** 2))


BUILTIN = {
    "top1": Metric("top1", _top_k(1), needs_labels=True),
    "top5": Metric("top5", _top_k(5), needs_labels=True),
    "cosine": Metric("cosine", _cosine),
    "mse": Metric("mse", _neg_mse),
}


def resolve_metric(name: str | None, has_labels: bool) -> Metric:
    """top1/top5/cosine/mse, or module:function(outputs, labels, reference) -> float (higher is better)."""
    if name is None:
        return BUILTIN["top1"] if has_labels else BUILTIN["cosine"]
    if name in BUILTIN:
        metric = BUILTIN[name]
        if metric.needs_labels and not has_labels:
            raise UserError(f"--metric {name} needs labels: give --data with y, or use --metric cosine or mse")
        return metric
    if ":" in name:
        module_name, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise UserError(f"cannot import metric '{name}': {e}") from e
        return Metric(name, fn)
    raise UserError(f"unknown --metric '{name}': top1, top5, cosine, mse, or module:function(outputs, labels, reference)")


@dataclass
class DropTolerance:
    value: float
    relative: bool  # True: a fraction of the reference score; False: absolute points of the metric

    def describe(self) -> str:
        return f"{self.value * 100:g}% relative" if self.relative else f"{self.value:g} absolute"

    def drop(self, reference_score: float, score: float) -> float:
        """How much was lost, in this tolerance's own unit (a fraction when relative)."""
        lost = reference_score - score
        return lost / abs(reference_score) if self.relative and reference_score else lost

    def passes(self, reference_score: float, score: float) -> bool:
        return self.drop(reference_score, score) <= self.value + 1e-12

    def to_dict(self) -> dict:
        return {"value": self.value, "relative": self.relative, "text": self.describe()}


_TOL = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(%|abs|rel)?\s*$")


def parse_drop(text: str | None) -> DropTolerance:
    """'1%' -> 1% relative; '0.01abs' -> 0.01 absolute; '0.01rel' -> 1% relative. Default: 1% relative."""
    if text is None:
        return DropTolerance(0.01, True)
    m = _TOL.match(str(text))
    if not m:
        raise UserError(f"bad --max-acc-drop '{text}': write 1% (relative to FP32) or 0.01abs (absolute metric points)")
    value, unit = float(m.group(1)), m.group(2)
    if unit == "%":
        return DropTolerance(value / 100, True)
    if unit == "abs":
        return DropTolerance(value, False)
    if unit == "rel":
        return DropTolerance(value, True)
    raise UserError(f"--max-acc-drop '{text}' is ambiguous: write {value:g}% (relative) or {value:g}abs (absolute)")
