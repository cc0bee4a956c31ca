"""PyTorch 2 Export quantization (PT2E) with the X86 Inductor quantizer, for the torch-compile runtime.

torch.export -> prepare_pt2e(X86InductorQuantizer, static, per-channel weights) -> calibrate -> convert_pt2e ->
torch.export again and save as .pt2; torch-compile's inductor then lowers the quantize/dequantize pattern to INT8
kernels. The PT2E API lives in torchao since torch 2.10 (torch.ao.quantization.quantize_pt2e was removed).
"""

from __future__ import annotations

import os
import warnings

from edgepick.compress.base import CompressContext, Compressor
from edgepick.compress.passes import torch_util
from edgepick.core.artifact import Artifact


class Pt2eX86Inductor(Compressor):
    name = "int8-static-pt2e"
    family = "int8-static"
    input_formats = ("torch-factory", "torch-pickle")
    output_format = "torch-exported"
    runtimes = ("torch-compile",)
    precision = "int8"
    import_name = "torchao,torch"
    distribution = "torchao"
    extra = "compress"
    needs_calibration = True
    description = "torchao PT2E prepare_pt2e/convert_pt2e with X86InductorQuantizer, run by torch.compile (inductor)"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        return [("int8-static-pt2e", {})] if label in ("int8-static", "int8-static-pt2e") else []

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        import torch
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        module = torch_util.load_module(artifact)
        example = torch_util.example(ctx, 2)
        dyn = tuple({0: torch.export.Dim("batch", min=1, max=4096)} for _ in example)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = torch.export.export(module, example, dynamic_shapes=dyn).module()
            quantizer = xiq.X86InductorQuantizer()
            quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
            prepared = prepare_pt2e(graph, quantizer)
            names = ctx.signature.names
            for batch in calibration.batches(16):
                prepared(*(torch.from_numpy(batch[n]) for n in names))
            converted = convert_pt2e(prepared)
            program = torch.export.export(converted, example, dynamic_shapes=dyn)
        out = ctx.out_dir / "model.pt2e-int8.pt2"
        tmp = out.with_suffix(f".{os.getpid()}.tmp.pt2")
        torch.export.save(program, tmp)
        os.replace(tmp, out)
        ctx.record.update(quantizer="X86InductorQuantizer (static, per-channel weights)",
                          note="inductor lowers INT8 fully only with torch._inductor.config.freezing; the torch-compile "
                               "runtime compiles without it, so weights are dequantized per call")
        return Artifact("torch-exported", str(out), {"input_names": names})
