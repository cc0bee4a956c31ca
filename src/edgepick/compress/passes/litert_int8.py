"""LiteRT full-integer quantization with ai-edge-quantizer: static INT8 weights and activations (recipe
static_wi8_ai8, min/max calibration), on the .tflite that litert-torch exported. Inputs and outputs become INT8 too,
so the LiteRT runtime quantizes the float inputs with the model's own scale/zero-point before the clock starts,
and dequantizes the outputs after it stops.
"""

from __future__ import annotations

import logging

from edgepick.compress.base import CompressContext, Compressor
from edgepick.core.artifact import Artifact


class LitertFullInteger(Compressor):
    name = "int8-static-litert"
    family = "int8-static"
    input_formats = ("tflite",)
    output_format = "tflite"
    runtimes = ("litert",)
    precision = "int8"
    import_name = "ai_edge_quantizer,ai_edge_litert"
    distribution = "ai-edge-quantizer"
    extra = "litert"
    needs_calibration = True
    description = "ai_edge_quantizer static_wi8_ai8 (full integer, min/max calibration) on the litert-torch .tflite"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        return [("int8-static-litert", {})] if label in ("int8-static", "int8-static-litert") else []

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter
        from ai_edge_quantizer import quantizer, recipe

        logging.getLogger("ai_edge_quantizer").setLevel(logging.ERROR)
        signatures = Interpreter(artifact.path).get_signature_list()
        key = next(iter(signatures))
        names = signatures[key]["inputs"]
        if len(names) != len(ctx.signature.names):
            raise ValueError(f"the .tflite has {len(names)} inputs, the model {len(ctx.signature.names)}")
        # litert-torch names inputs args_0, args_1, ... in the order of the model's inputs
        samples = [{tfl: np.ascontiguousarray(batch[ours]) for tfl, ours in zip(names, ctx.signature.names)}
                   for batch in calibration.batches(1)]
        q = quantizer.Quantizer(artifact.path, recipe.static_wi8_ai8())
        result = q.quantize(q.calibrate({key: samples}, num_threads=ctx.threads), enable_progress_report=False)
        out = ctx.out_dir / "model.int8.tflite"
        result.export_model(str(out), overwrite=True)
        details = Interpreter(str(out)).get_input_details()
        ctx.record.update(recipe="static_wi8_ai8", calibration_algorithm="min/max",
                          input_dtype=str(np.dtype(details[0]["dtype"])), signature=key)
        return Artifact("tflite", str(out), dict(artifact.meta, quantized="full-integer"))
