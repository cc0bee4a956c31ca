from __future__ import annotations

import warnings

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core.artifact import Artifact
from edgepick.inputs.torch_dims import example_tensors
from edgepick.runtimes.torch_eager import module_to_convert


class TorchToTorchScript(Converter):
    """torch.jit.trace on the example input, then freeze (folds weights and attributes into the graph)."""

    name = "torch-to-torchscript"
    sources = ("torch-factory", "torch-exported", "torch-pickle")
    target = "torchscript"
    import_name = "torch"
    distribution = "torch"
    extra = "torch"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import torch

        module = module_to_convert(artifact, ctx.module)
        if artifact.format != "torch-exported":  # an exported program's module is in inference form and refuses .eval()
            module = module.eval()
        example = example_tensors(ctx.signature, 1)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TracerWarnings are checked for real below, by running the trace
            # strict=False: a library module returns a dict of tensors (transformers' ModelOutput); its keys are
            # fixed by the module's config, not by the inputs, which is what strict mode guards against.
            traced = torch.jit.trace(module, example, check_trace=True, strict=False)
            frozen = torch.jit.freeze(traced.eval())
        out = ctx.out_dir / "model.torchscript.pt"
        torch.jit.save(frozen, str(out))
        return Artifact("torchscript", str(out), {"input_names": ctx.signature.names, "traced_batch": 1})
