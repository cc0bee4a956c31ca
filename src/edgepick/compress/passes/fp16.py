"""FP16: ONNX float16 conversion for ONNX Runtime, and OpenVINO's INFERENCE_PRECISION_HINT=f16.

OpenVINO's FP16 is a runtime option, not a file: the artifact is the same IR with a hint the runtime applies at
compile time. Whether the CPU computes in FP16 natively is read from OpenVINO's own capability list (FP16 appears
only on CPUs with AVX512-FP16/AMX-FP16) and said in the row, since without it the hint cannot speed anything up.
"""

from __future__ import annotations

from edgepick.compress.base import CompressContext, Compressor
from edgepick.core.artifact import Artifact


class OnnxFloat16(Compressor):
    name = "fp16-onnx"
    family = "fp16"
    input_formats = ("onnx",)
    output_format = "onnx"
    runtimes = ("onnxruntime",)
    precision = "fp16"
    import_name = "onnxconverter_common,onnxruntime"
    distribution = "onnxconverter-common"
    extra = "compress"
    description = "onnxconverter_common.float16.convert_float_to_float16 (inputs/outputs kept FP32)"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        return [("fp16", {})]

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        import onnx
        from onnxconverter_common import float16

        model = onnx.load(artifact.path)
        # keep_io_types: callers still feed FP32 and get FP32 back; the casts sit at the graph's edges.
        converted = float16.convert_float_to_float16(model, keep_io_types=True)
        out = ctx.out_dir / "model.fp16.onnx"
        onnx.save(converted, str(out))
        ctx.record["note"] = _cpu_fp16_note()
        return Artifact("onnx", str(out), {"precision": "fp16"})


class OpenVinoFp16Hint(Compressor):
    name = "fp16-openvino"
    family = "fp16"
    input_formats = ("openvino-ir",)
    output_format = "openvino-ir"
    runtimes = ("openvino",)
    precision = "fp16"
    import_name = "openvino"
    distribution = "openvino"
    extra = "openvino"
    description = "OpenVINO CPU plugin with INFERENCE_PRECISION_HINT=f16 (a runtime option on the same IR)"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        return [("fp16", {})]

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        import openvino as ov

        caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        ctx.record["cpu_capabilities"] = list(caps)
        ctx.record["note"] = ("the CPU plugin lists FP16: computes in FP16" if "FP16" in caps else
                              "runtime hint only: this CPU has no native FP16 compute (OpenVINO lists "
                              f"{', '.join(caps)}), so OpenVINO keeps FP32 kernels; expect no speed-up")
        meta = dict(artifact.meta, inference_precision="f16")
        return Artifact(artifact.format, artifact.path, meta)


def _cpu_fp16_note() -> str:
    from edgepick.core.fingerprint import cpu_info

    flags = cpu_info()["isa_flags"]
    if "avx512_fp16" in flags or "amx_fp16" in flags:
        return "the CPU has native FP16 arithmetic (avx512_fp16)"
    return ("no native FP16 arithmetic on this CPU (ISA: " + ", ".join(flags) + "); ONNX Runtime's CPU provider "
            "runs most FP16 ops through casts or FP32 fallbacks, so expect a smaller file, not a faster one")
