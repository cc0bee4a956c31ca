"""PyTorch -> LiteRT on the direct edge (litert-torch), run in its own venv when the main environment cannot hold it;
a library module's dict outputs cross over as a flat tuple (issue 24, finding 8)."""

from __future__ import annotations

import numpy as np
import pytest

import edgepick
from edgepick.convert.litert_torch_env import ENV, flat_outputs
from edgepick.core import envs


class _DictOut:
    """A module that answers a dict, as transformers' models do (ModelOutput)."""

    @staticmethod
    def build():
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.body = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.GELU(), torch.nn.LayerNorm(16))
                self.head = torch.nn.Linear(16, 4)

            def forward(self, x):
                features = self.body(x)
                return {"logits": self.head(features), "features": features}

        torch.manual_seed(0)
        return Net().eval()


def test_flat_outputs_keeps_the_order_the_reference_takes():
    torch = pytest.importorskip("torch")
    module = _DictOut.build()
    x = torch.randn(3, 12)
    got = flat_outputs(module)(x)
    want = module(x)
    assert isinstance(got, tuple) and [g.shape for g in got] == [v.shape for v in want.values()]
    assert all(torch.equal(g, v) for g, v in zip(got, want.values()))


def test_litert_reaches_a_dict_output_module_through_litert_torch(home, fast):
    if not envs.is_ready(ENV) and importlib_missing("litert_torch"):
        pytest.skip(f"litert-torch is not here: edgepick env create {ENV}")
    pytest.importorskip("ai_edge_litert")
    run = edgepick.pick(_DictOut.build(), input_shape="x=1x12", runtimes=["litert"], threads=[1], batches=[1],
                        timing=fast, precisions=["fp32"])
    row = run.rows[0]
    assert row["status"] == "ok", row["reason"]
    assert [s["converter"] for s in row["conversion"]] == ["torch-to-litert"]
    assert row["equivalence"]["max_abs_err"] < 1e-4
    assert np.isfinite(row["latency_ms"]["p50"])


def importlib_missing(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is None


def test_litert_feeds_int64_ids_to_an_input_the_converter_narrowed_to_int32():
    """litert-torch (like the TFLite converter) makes an int64 token-id input INT32 (seen on GPT-2); the ids fit."""
    from edgepick.runtimes.litert import _quantized

    ids = np.array([[0, 5, 499]], dtype=np.int64)
    got = _quantized(ids, {"dtype": np.int32, "quantization": (0.0, 0)})
    assert got.dtype == np.int32 and (got == ids).all()
    too_big = np.array([[2**40]], dtype=np.int64)  # would not fit: passed as it is, and LiteRT says so itself
    assert _quantized(too_big, {"dtype": np.int32, "quantization": (0.0, 0)}).dtype == np.int64
