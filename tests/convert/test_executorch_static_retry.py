"""ExecuTorch: a program whose lowering fails with a free batch is exported once more for batch 1, and says so.

A tiny GPT-2 from transformers (one layer, seeded weights, built here): torch.export accepts its dynamic batch, but
ExecuTorch's lowering then fails on a view of the transposed attention tensor ("Cannot view a tensor with shape
[s, 2, 16] and strides ..."). The static export must be the program, computing what PyTorch does.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.convert.base import ConvertContext
from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec

torch = pytest.importorskip("torch")

SIG = Signature([TensorSpec("input_ids", [1, 8], "int64", batch_dynamic=True)])


class _Logits(torch.nn.Module):
    """The logits alone: the test compares one tensor."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids):
        return self.lm(input_ids=input_ids).logits


def _tiny_gpt2():
    # here, not at import: a module-level skip would be reported by `make test`, which deselects this slow test
    pytest.importorskip("executorch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=100, n_positions=16, n_embd=32, n_layer=1, n_head=2, use_cache=False,
                                     bos_token_id=0, eos_token_id=0)
    return _Logits(transformers.GPT2LMHeadModel(config).eval()).eval()


@pytest.mark.slow
def test_gpt2_lowering_falls_back_to_batch_1_and_agrees(tmp_path):
    from edgepick.convert.torch_to_executorch import TorchToExecuTorch, _lowered
    from edgepick.runtimes.executorch import ExecuTorch

    module = _tiny_gpt2()
    with pytest.raises(Exception, match="view"):  # the retry is needed: the dynamic-batch lowering fails here
        _lowered(module, SIG, dynamic=True)
    ctx = ConvertContext(SIG, tmp_path, module)
    artifact = TorchToExecuTorch().convert(Artifact("torch-factory", "unused"), ctx)
    assert artifact.meta["static_batch"] == 1 and "exported for batch 1" in artifact.meta["note"]
    ids = SIG.example_inputs(batch=1)["input_ids"]
    session = ExecuTorch().load(artifact, 1)
    got = session.to_numpy(session.run(session.prepare({"input_ids": ids})))[0]
    with torch.no_grad():
        want = module(torch.from_numpy(ids)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
