from __future__ import annotations

import logging
import warnings

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core.artifact import Artifact
from edgepick.inputs.torch_dims import batch_dynamic_shapes, example_tensors
from edgepick.runtimes.torch_eager import module_to_convert


class TorchToOnnx(Converter):
    name = "torch-to-onnx"
    typical_s = 4  # the dynamo exporter
    sources = ("torch-factory", "torch-exported", "torch-pickle")
    target = "onnx"
    import_name = "onnxscript"  # the dynamo exporter needs it; torch itself is checked by the source format
    distribution = "onnxscript"
    extra = "onnx"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import torch

        # The exporter logs a warning per missing torchvision op; they say nothing about this model.
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        module = module_to_convert(artifact, ctx.module)
        sig = ctx.signature
        example = example_tensors(sig, 1)
        out = ctx.out_dir / "model.onnx"
        # A dynamic batch dimension lets one ONNX file serve every --batch size.
        dynamic = batch_dynamic_shapes(t.batch_dynamic for t in sig.inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                program = torch.onnx.export(
                    module, example, input_names=sig.names, dynamic_shapes=dynamic, dynamo=True, verbose=False
                )
                program.save(str(out))
                exporter = "dynamo"
            except Exception as dynamo_error:  # the TorchScript exporter still takes models dynamo cannot trace
                axes = {t.name: {0: "batch"} for t in sig.inputs if t.batch_dynamic}
                try:
                    torch.onnx.export(module, example, str(out), input_names=sig.names, dynamic_axes=axes, dynamo=False)
                except Exception as legacy_error:
                    raise RuntimeError(f"dynamo: {dynamo_error}; torchscript: {legacy_error}") from legacy_error
                exporter = "torchscript"
        extra = [str(p) for p in ctx.out_dir.glob("*.data")]
        return Artifact("onnx", str(out), {"exporter": exporter, "extra_files": extra})
