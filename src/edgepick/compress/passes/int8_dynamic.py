"""INT8 dynamic quantization with ONNX Runtime: weights to INT8 offline, activations quantized at run time."""

from __future__ import annotations

from edgepick.compress.base import CompressContext, Compressor
from edgepick.core.artifact import Artifact


def quantize_dyn(src: str, out: str, per_channel: bool, exclude: list[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # quantize_dynamic rewrites a Gemm as MatMul + Add named "<gemm>_MatMul" before quantizing, so a Gemm kept in
    # float must be excluded under that name too.
    names = list(exclude) + [f"{n}_MatMul" for n in exclude]
    quantize_dynamic(src, out, weight_type=QuantType.QInt8, per_channel=per_channel, nodes_to_exclude=names)


class OrtInt8Dynamic(Compressor):
    name = "int8-dynamic"
    family = "int8-dynamic"
    input_formats = ("onnx",)
    output_format = "onnx"
    runtimes = ("onnxruntime",)
    precision = "int8"
    import_name = "onnxruntime"
    distribution = "onnxruntime"
    extra = "onnxruntime"
    options = {"per_channel": "per-channel weight scales (default off)", "nodes_to_exclude": "node names kept in float"}
    description = "onnxruntime.quantization.quantize_dynamic (weights INT8, activations quantized per call)"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        # Per-tensor and per-channel weight scales: per-channel often keeps transformers accurate (MiniLM cosine
        # 0.966 -> 0.994 here) at the same kernels, so both are measured and the search keeps the faster passing one.
        both = [("int8-dynamic", {"per_channel": False}), ("int8-dynamic-pc", {"per_channel": True})]
        return both if label == cls.family else [c for c in both if c[0] == label]

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        out = ctx.out_dir / "model.int8-dynamic.onnx"
        quantize_dyn(artifact.path, str(out), bool(ctx.options.get("per_channel", False)),
                     list(ctx.options.get("nodes_to_exclude", [])))
        ctx.record.update(weight_type="int8", per_channel=bool(ctx.options.get("per_channel", False)),
                          nodes_excluded=list(ctx.options.get("nodes_to_exclude", [])))
        return Artifact("onnx", str(out), {"quantized": "dynamic"})
