from __future__ import annotations

import warnings

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core.artifact import Artifact
from edgepick.inputs.torch_dims import batch_dynamic_shapes, example_tensors
from edgepick.runtimes.torch_eager import module_to_convert


class TorchToExecuTorch(Converter):
    """torch.export, then to_edge_transform_and_lower with the XNNPACK partitioner, then a .pte program."""

    name = "torch-to-executorch"
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
        import torch
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        module = module_to_convert(artifact, ctx.module)
        sig = ctx.signature
        example = example_tensors(sig, 2)
        static_batch = None
        try:  # XNNPACK takes dynamic shapes with an upper bound; keep the batch free when the model allows it
            dyn = batch_dynamic_shapes((t.batch_dynamic for t in sig.inputs), max_batch=1024)
            program = torch.export.export(module, example, dynamic_shapes=dyn)
        except Exception:
            example = example_tensors(sig, 1)
            program = torch.export.export(module, example)
            static_batch = 1
        lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
        out = ctx.out_dir / "model.pte"
        out.write_bytes(lowered.buffer)
        delegated = sum(1 for n in lowered.exported_program().graph.nodes
                        if n.op == "call_function" and "executorch_call_delegate" in str(n.target))
        return Artifact("executorch-pte", str(out), {"input_names": sig.names, "static_batch": static_batch,
                                                      "xnnpack_delegate_calls": delegated})
