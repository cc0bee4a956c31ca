"""The environment a row was measured in: CPU, ISA flags, cores, OS, Python, runtime versions, model hash."""

from __future__ import annotations

import functools
import os
import platform
from importlib import metadata

# ISA features that decide which kernels a runtime can use (INT8 speed hinges on VNNI/AMX, BF16 on avx512_bf16/amx_bf16,
# FP16 on avx512_fp16/amx_fp16; on ARM, fphp/asimdhp for FP16, bf16 for BF16, i8mm/asimddp for INT8). plan/precision.py
# decides from these which reduced precisions are native here.
_ISA_OF_INTEREST = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512vnni",
                    "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16", "neon",
                    "asimd", "fphp", "asimdhp", "bf16", "asimddp", "i8mm")
_DISTRIBUTIONS = ("edgepick", "torch", "onnx", "onnxruntime", "openvino", "onnxscript", "numpy")


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict:
    """This machine's CPU: model, arch, the ISA flags edgepick cares about, cores, memory (cached per process)."""
    import cpuinfo
    import psutil

    info = cpuinfo.get_cpu_info()
    flags = set(info.get("flags", []))
    return {
        "cpu_model": info.get("brand_raw") or platform.processor(),
        "arch": info.get("arch_string_raw") or platform.machine(),
        "isa_flags": sorted(f for f in _ISA_OF_INTEREST if f in flags),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def versions() -> dict[str, str | None]:
    out = {}
    for dist in _DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out




def fingerprint(model_hash: str) -> dict:
    return {
        **cpu_info(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
        "model_hash": model_hash,
    }
