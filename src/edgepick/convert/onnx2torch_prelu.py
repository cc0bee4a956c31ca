"""onnx2torch's PRelu, for a slope it cannot hand to F.prelu, as one elementwise torch.where.

onnx2torch (1.5.15) calls F.prelu only for a scalar slope or one shaped [C, 1, ...]; tf2onnx writes a TFLite PReLU's
slope as [1, C, 1, 1], so onnx2torch computes `out = x * slope; out[x >= 0] = x[x >= 0]`: boolean-mask indexing,
which torch.export keeps as index.Tensor + index_put with data-dependent sizes. ExecuTorch runs those on its portable
kernels, about 10 s for one 16x48x48 activation (face-landmark has 23 PReLUs: no result within the 240 s timeout).
`torch.where(x >= 0, x, x * slope)` is the same function element by element (NaN included: x >= 0 is False for NaN
in both, giving x * slope), so every onnx2torch-based runtime computes what it did; tests/convert/test_onnx2torch_prelu.py
checks it bit for bit and through ExecuTorch.
"""

from __future__ import annotations

__all__ = ["prelu_where"]


def prelu_where(x, slope):
    """ONNX PRelu: x where x >= 0, else x * slope (slope broadcast as ONNX broadcasts it)."""
    import torch

    return torch.where(x >= 0, x, x * slope)
