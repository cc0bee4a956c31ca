"""INT8 static quantization with ONNX Runtime: QDQ format, calibrated activations, per-channel weights.

`quant_pre_process` (shape inference + graph optimization) runs first, as ORT recommends, so the quantizer sees
fused Conv+BN and known shapes. Activations are UINT8 and weights INT8 (U8S8), ORT's choice for x86; without
VNNI, ORT advises reduce_range to avoid saturating the 16-bit accumulation of the AVX2 kernels, so it is set
from the CPU's ISA flags.
"""

from __future__ import annotations

from pathlib import Path

from edgepick.compress.base import CompressContext, Compressor
from edgepick.core.artifact import Artifact

METHODS = ("minmax", "entropy", "percentile")


def has_vnni() -> bool:
    from edgepick.core.fingerprint import cpu_info

    return any(f in cpu_info()["isa_flags"] for f in ("avx512_vnni", "avx512vnni", "avx_vnni", "amx_int8"))


def quantize_qdq(src: str, out: str, calibration, method: str, per_channel: bool, exclude: list[str]) -> dict:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgepick.compress.passes.onnx_util import reader

    prepped = out + ".pre.onnx"
    try:
        quant_pre_process(src, prepped, skip_symbolic_shape=False)
    except Exception:  # symbolic shape inference rejects some graphs; the plain ONNX one is enough then
        quant_pre_process(src, prepped, skip_symbolic_shape=True)
    import onnx

    names = [i.name for i in onnx.load(prepped, load_external_data=False).graph.input]
    calib_method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                    "percentile": CalibrationMethod.Percentile}[method]
    reduce_range = not has_vnni()
    quantize_static(prepped, out, reader(calibration, names), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=calib_method, nodes_to_exclude=exclude or None,
                    extra_options={"CalibMovingAverage": False})
    Path(prepped).unlink(missing_ok=True)
    return {"method": method, "per_channel": per_channel, "reduce_range": reduce_range, "format": "QDQ U8S8",
            "pre_process": "quant_pre_process", "nodes_excluded": list(exclude)}


class OrtInt8Static(Compressor):
    name = "int8-static"
    family = "int8-static"
    input_formats = ("onnx",)
    output_format = "onnx"
    runtimes = ("onnxruntime",)
    precision = "int8"
    import_name = "onnxruntime"
    distribution = "onnxruntime"
    extra = "onnxruntime"
    needs_calibration = True
    options = {"method": "minmax | entropy | percentile", "per_channel": "per-channel weight scales (default on)",
               "nodes_to_exclude": "node names kept in float (set by the accuracy-aware search)"}
    description = "onnxruntime.quantization.quantize_static, QDQ, after quant_pre_process"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        if label == cls.family:
            return [(f"int8-static-{m}", {"method": m, "per_channel": True}) for m in METHODS]
        method = label.removeprefix("int8-static-")
        return [(label, {"method": method, "per_channel": True})] if method in METHODS else []

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        out = ctx.out_dir / "model.int8-static.onnx"
        ctx.record.update(quantize_qdq(artifact.path, str(out), calibration, ctx.options.get("method", "minmax"),
                                       bool(ctx.options.get("per_channel", True)),
                                       list(ctx.options.get("nodes_to_exclude", []))))
        return Artifact("onnx", str(out), {"quantized": "static-qdq"})
