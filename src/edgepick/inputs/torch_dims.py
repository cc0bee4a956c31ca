"""Torch inputs for export and tracing, declared once: the signature's example tensors, and the dynamic batch axis.

Every export of a module with a batch axis (the .pt2 of an API
module, torch -> ONNX, ExecuTorch, LiteRT, a trained model) names the same Dim("batch") with the same bounds."""

from __future__ import annotations

from collections.abc import Iterable

MAX_BATCH = 4096


def batch_dynamic_shapes(has_batch: Iterable[bool], max_batch: int = MAX_BATCH) -> tuple[dict, ...]:
    """dynamic_shapes for torch.export/torch.onnx.export: axis 0 of each input that has a batch axis is one shared
    Dim("batch") in [1, max_batch]; an input without one stays static."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=max_batch)
    return tuple({0: batch} if dynamic else {} for dynamic in has_batch)


def example_tensors(signature, batch: int) -> tuple:
    """The signature's deterministic example inputs as torch tensors, in input order (for export and tracing)."""
    import torch

    return tuple(torch.from_numpy(a) for a in signature.example_inputs(batch=batch).values())
