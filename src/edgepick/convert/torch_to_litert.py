"""PyTorch -> .tflite with litert-torch (Google's PyTorch-to-LiteRT converter, via torch.export).

It converts the very nn.Module the reference ran when the sweep has it in memory. A dynamic batch is asked for first;
when torch.export or the converter refuses it, the .tflite is exported for batch 1, and LiteRT then reports other
batch sizes as unsupported-shape rows instead of silently measuring something else.
"""

from __future__ import annotations

import logging

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core.artifact import Artifact
from edgepick.inputs.torch_dims import batch_dynamic_shapes, example_tensors
from edgepick.runtimes.torch_eager import module_to_convert


class TorchToLitert(Converter):
    name = "torch-to-litert"
    sources = ("torch-factory", "torch-exported", "torch-pickle")
    target = "tflite"
    import_name = "litert_torch"
    distribution = "litert-torch"
    extra = "litert-torch"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import litert_torch

        logging.getLogger("litert_torch").setLevel(logging.ERROR)
        module = module_to_convert(artifact, ctx.module)
        if artifact.format != "torch-exported":  # an exported program's module is in inference form and refuses .eval()
            module = module.eval()
        sig = ctx.signature
        example = example_tensors(sig, 2)
        out = ctx.out_dir / "model.tflite"
        static_batch = None
        try:
            dynamic = batch_dynamic_shapes(t.batch_dynamic for t in sig.inputs)
            edge_model = litert_torch.convert(module, example, dynamic_shapes=dynamic)
        except Exception:  # a graph with a baked-in batch (view(1, -1), ...): a static batch-1 model is still useful
            example = example_tensors(sig, 1)
            edge_model = litert_torch.convert(module, example)
            static_batch = 1
        edge_model.export(str(out))
        return Artifact("tflite", str(out), {"converter": "litert-torch", "static_batch": static_batch,
                                             "input_names": sig.names})
