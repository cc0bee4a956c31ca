"""The machine's measured peak: FP32 GFLOP/s and INT8 GOP/s (ORT MatMul / MatMulInteger at N threads) and memory
bandwidth (a large numpy copy). Cached per machine fingerprint and thread count under $EDGEPICK_HOME/peak/ and
~/.cache/edgepick/peak/ (the peak belongs to the machine, so a fresh EDGEPICK_HOME reuses it).

Why ORT kernels: they are the MLAS GEMMs the runtimes themselves use, honour `intra_op_num_threads` exactly (numpy's
BLAS picks its thread count at import time), and MatMulInteger reaches the VNNI/AMX int8 paths where the CPU has them.
A measured peak is what this machine reaches on a large square GEMM, not the datasheet number.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from edgepick.core import paths

N_GEMM = 1024  # 2 GFLOP per call: long enough to time, small enough to fit in L3+DRAM quickly
COPY_MB = 256  # far above any L3 cache, so the copy streams from DRAM


def machine_key() -> str:
    from edgepick.core.fingerprint import cpu_info, versions

    cpu = cpu_info()
    ident = {k: cpu.get(k) for k in ("cpu_model", "arch", "isa_flags", "logical_cores", "usable_cores")}
    ident["onnxruntime"] = versions().get("onnxruntime")
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def _cache_files() -> list[Path]:
    """$EDGEPICK_HOME/peak first, then the per-user cache: the peak is the machine's, so every home can share it."""
    name = f"{machine_key()}.json"
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgepick" / "peak" / name
    return [paths.home() / "peak" / name, user]


def _matmul_model(int8: bool, n: int):
    from onnx import TensorProto, helper

    if int8:
        a = helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])
        b = helper.make_tensor_value_info("b", TensorProto.INT8, [n, n])
        y = helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    else:
        a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
        b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
    graph = helper.make_graph([node], "peak", [a, b], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def _best_rate(call, ops: float, seconds: float) -> float:
    """Best rate over calls in a fixed time: the peak is the fastest a kernel went, not its average."""
    call()
    call()
    best = float("inf")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return ops / best / 1e9


def gemm_rate(threads: int, int8: bool, n: int = N_GEMM, seconds: float = 1.0) -> float:
    import onnxruntime as ort

    from edgepick.runtimes.onnxruntime import session_options

    opts = session_options(threads)  # ORT's defaults are sequential with all optimisations: as before
    sess = ort.InferenceSession(_matmul_model(int8, n).SerializeToString(), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    if int8:
        feeds = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8), "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}
    else:
        feeds = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
    return _best_rate(lambda: sess.run(None, feeds), 2.0 * n**3, seconds)


def copy_bandwidth(mb: int = COPY_MB, seconds: float = 1.0) -> float:
    """GB/s of a single-threaded large copy, counting the read and the write (2 x size per copy)."""
    src = np.ones(mb * 2**20 // 8, dtype=np.float64)
    dst = np.empty_like(src)
    return _best_rate(lambda: np.copyto(dst, src), 2.0 * src.nbytes, seconds)


def measure_peak(threads: int, seconds: float = 1.0) -> dict:
    from edgepick.measure.noise import BUSY_THRESHOLD, machine_load

    load = machine_load()  # a peak measured on a busy machine is too low; the record says so
    return {
        "threads": threads,
        "load_before": load,
        "busy_warning": (f"measured while the machine was {load['cpu_busy_pct']:.0f}% busy with other processes: "
                         "the peak is understated; `edgepick peak --refresh` on a quiet machine")
        if load["cpu_busy_pct"] > BUSY_THRESHOLD else None,
        "fp32_gflops": gemm_rate(threads, int8=False, seconds=seconds),
        "int8_gops": gemm_rate(threads, int8=True, seconds=seconds),
        "bandwidth_gbps": copy_bandwidth(seconds=seconds),
        "method": f"best of ~{seconds:g} s: ORT MatMul / MatMulInteger {N_GEMM}x{N_GEMM} at {threads} threads; "
                  f"numpy copy of {COPY_MB} MiB (read+write) on one thread",
        "machine_key": machine_key(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def trusted(record: dict) -> bool:
    """A cached peak is reused only if it was measured on a quiet machine: a busy one understates it (records from
    before the load was recorded carry no `load_before` and are measured again too)."""
    return bool(record) and "load_before" in record and not record.get("busy_warning")


def peak(threads: int, refresh: bool = False) -> dict:
    """The cached peak for this machine at `threads`, measuring it (a few seconds) the first time, after a busy
    measurement, or on `refresh`. A new measurement never lowers a rate: the peak is the best this machine reached."""
    key = str(threads)
    found = {path: _read(path).get(key) for path in _cache_files()}
    cached = max((r for r in found.values() if r), key=lambda r: r.get("fp32_gflops", 0), default={})
    if cached and trusted(cached) and not refresh:
        for path, record in found.items():
            if record != cached:
                _write(path, key, cached)
        return dict(cached, cached=True)
    record = best_of(cached, measure_peak(threads))
    for path in found:
        _write(path, key, record)
    return dict(record, cached=False)


def best_of(old: dict, new: dict) -> dict:
    """The new record, with each rate raised to the old one where that was higher (and the old date kept for it)."""
    out = dict(new)
    for rate in ("fp32_gflops", "int8_gops", "bandwidth_gbps"):
        if (old.get(rate) or 0) > (new.get(rate) or 0):
            out[rate] = old[rate]
            out.setdefault("kept_from_earlier", {})[rate] = old.get("measured_at")
    return out


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, key: str, record: dict) -> None:
    try:
        cache = _read(path)
        cache[key] = record
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=2))
        tmp.replace(path)
    except OSError:  # a read-only user cache must not fail a sweep
        pass
