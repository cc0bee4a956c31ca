"""Before measuring: is INT8 likely to be slower than FP32 here? After measuring: was that right?

The reasons are the ones users hit (onnxruntime #20052, #12854): without VNNI/AMX the CPU multiplies INT8 through
AVX2 sequences (vpmaddubsw + vpmaddwd) that gain little over FP32 FMA once quantize/dequantize is paid; ORT's
dynamic quantization turns convolutions into ConvInteger, which has no fast kernel on CPU; and in a very small model
the per-layer quantize/dequantize overhead is as large as the arithmetic saved.
"""

from __future__ import annotations

from edgepick.core.fingerprint import cpu_info

_INT8_ISA = ("avx512_vnni", "avx512vnni", "avx_vnni", "amx_int8")
SMALL_MODEL_BYTES = 512 * 1024


def int8_flag(compressor: str, runtime: str, artifact) -> dict:
    flags = cpu_info()["isa_flags"]
    reasons = []
    if not any(f in flags for f in _INT8_ISA):
        reasons.append("no VNNI/AMX in the CPU's ISA flags (" + ", ".join(flags) + ")")
    if compressor == "int8-dynamic" and artifact is not None and artifact.format == "onnx":
        from edgepick.compress.passes.onnx_util import op_counts

        counts = op_counts(artifact.path)
        if counts["ConvInteger"]:  # ORT has no fast ConvInteger kernel on CPU (onnxruntime #12854, #20052)
            reasons.append(f"dynamic quantization of convolutions ({counts['ConvInteger']} ConvInteger ops)")
    size = artifact.size_bytes() if artifact is not None else None
    if size is not None and size < SMALL_MODEL_BYTES:
        reasons.append(f"a small model ({size / 1024:.0f} KB quantized): at batch 1 the quantize/dequantize steps and "
                       "INT8 kernel dispatch cost about as much as the FP32 arithmetic they replace")
    isa = "VNNI present" if any(f in flags for f in _INT8_ISA) else "no VNNI/AMX"
    return {"likely_slower": bool(reasons), "why": reasons, "isa": isa}


def verdicts(rows: list[dict]) -> None:
    """Fill each INT8 row's flag outcome: its p50 against the FP32 row of the same runtime, threads and batch."""
    fp32 = {(r["runtime"], r["threads"], r["batch"]): r for r in rows
            if not r.get("compression") and r["status"] == "ok" and r.get("precision") == "fp32"}
    for r in rows:
        flag = (r.get("compression") or {}).get("int8_flag")
        if not flag or not r.get("latency_ms"):
            continue
        base = fp32.get((r["runtime"], r["threads"], r["batch"]))
        if not base:
            flag["outcome"] = "no FP32 row of the same runtime/threads/batch to compare with"
            continue
        ratio = r["latency_ms"]["p50"] / base["latency_ms"]["p50"]
        slower = ratio > 1.0
        flag["speedup_vs_fp32"] = 1 / ratio
        flag["flag_right"] = slower == flag["likely_slower"]
        said = "flagged likely slower" if flag["likely_slower"] else "not flagged"
        flag["outcome"] = (f"{said}; measured {'slower' if slower else 'faster'} than FP32 ({1 / ratio:.2f}x "
                           f"speed-up): the flag was {'right' if flag['flag_right'] else 'wrong'}")
