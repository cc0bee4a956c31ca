"""Do a candidate's outputs compute the same thing as the reference's, on the same inputs?"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Tolerance:
    """FP32 against FP32: differences come only from reordered arithmetic and fused kernels."""

    atol: float = 1e-4
    rtol: float = 1e-3  # relative to the largest reference magnitude of that output
    min_cosine: float = 0.9999
    min_top1_agreement: float = 0.99

    def to_dict(self) -> dict:
        return asdict(self)


def compare(reference: list[np.ndarray], candidate: list[np.ndarray], tol: Tolerance) -> dict:
    """Figures over all outputs, and a verdict with the first reason that failed."""
    if len(reference) != len(candidate):
        return {"agrees": False, "why": f"{len(candidate)} outputs, reference has {len(reference)}"}
    max_abs = max_rel = 0.0
    cosines = []
    top1 = None
    why = None
    for i, (ref, got) in enumerate(zip(reference, candidate)):
        ref = np.asarray(ref, dtype=np.float64)
        got = np.asarray(got, dtype=np.float64)
        if ref.shape != got.shape:
            if ref.size == got.size:
                got = got.reshape(ref.shape)
            else:
                return {"agrees": False, "why": f"output {i} has shape {got.shape}, reference {ref.shape}"}
        diff = np.abs(ref - got)
        scale = float(np.abs(ref).max()) if ref.size else 0.0
        err = float(diff.max()) if diff.size else 0.0
        max_abs = max(max_abs, err)
        max_rel = max(max_rel, float((diff / np.maximum(np.abs(ref), 1e-6)).max()) if diff.size else 0.0)
        cos = _cosine(ref.ravel(), got.ravel())
        cosines.append(cos)
        if why is None and err > tol.atol + tol.rtol * scale:
            why = f"max abs error {err:.3g} > {tol.atol + tol.rtol * scale:.3g} on output {i}"
        if why is None and cos < tol.min_cosine:
            why = f"cosine {cos:.5f} < {tol.min_cosine} on output {i}"
        if i == 0 and ref.ndim == 2 and ref.shape[1] > 1:  # N x classes: a classifier's logits
            top1 = float((ref.argmax(1) == got.argmax(1)).mean())
            if why is None and top1 < tol.min_top1_agreement:
                why = f"top-1 agreement {top1:.3f} < {tol.min_top1_agreement}"
    return {
        "agrees": why is None,
        "why": why,
        "max_abs_err": max_abs,
        "max_rel_err": max_rel,
        "cosine": min(cosines) if cosines else None,
        "top1_agreement": top1,
    }


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def accuracy_top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(axis=-1) == labels).mean())
