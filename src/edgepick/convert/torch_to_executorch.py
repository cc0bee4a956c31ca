from __future__ import annotations

import warnings

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core.artifact import Artifact
from edgepick.inputs.torch_dims import batch_dynamic_shapes, example_tensors
from edgepick.runtimes.torch_eager import module_to_convert


class TorchToExecuTorch(Converter):
    """torch.export, then to_edge_transform_and_lower with the XNNPACK partitioner, then a .pte program."""

    name = "torch-to-executorch"
    typical_s = 10  # torch.export, then XNNPACK lowering
    sources = ("torch-factory", "torch-exported", "torch-pickle")
    target = "executorch-pte"
    import_name = "executorch"
    distribution = "executorch"
    extra = "executorch"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pytree/export deprecation chatter from torch and torchao, not about this model
            return self._convert(artifact, ctx)

    def _convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        module = module_to_convert(artifact, ctx.module)
        sig = ctx.signature
        static_batch, dynamic_error = None, None
        try:  # XNNPACK takes dynamic shapes with an upper bound; keep the batch free when the model allows it
            lowered = _lowered(module, sig, dynamic=True)
        except Exception as e:
            # torch.export may refuse the free batch, or accept it and the lowering then fail on it (seen on GPT-2:
            # "Cannot view a tensor with shape [s72, 16, 64] and strides (64, 64*s72, 1)" in an attention view):
            # either way the program is exported once more for batch 1, and the row says so
            dynamic_error = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}" if str(e).strip() else type(e).__name__
            lowered = _lowered(module, sig, dynamic=False)
            static_batch = 1
        out = ctx.out_dir / "model.pte"
        out.write_bytes(lowered.buffer)
        delegated = sum(1 for n in lowered.exported_program().graph.nodes
                        if n.op == "call_function" and "executorch_call_delegate" in str(n.target))
        meta = {"input_names": sig.names, "static_batch": static_batch, "xnnpack_delegate_calls": delegated}
        if dynamic_error:
            meta["note"] = f"exported for batch 1: with a dynamic batch, {dynamic_error}"
        return Artifact("executorch-pte", str(out), meta)


def _lowered(module, sig, dynamic: bool):
    """torch.export (batch free up to 1024 when `dynamic`, else batch 1), lowered to XNNPACK, as an ExecuTorch program."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    if dynamic:
        dyn = batch_dynamic_shapes((t.batch_dynamic for t in sig.inputs), max_batch=1024)
        program = torch.export.export(module, example_tensors(sig, 2), dynamic_shapes=dyn)
    else:
        program = torch.export.export(module, example_tensors(sig, 1))
    return to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
