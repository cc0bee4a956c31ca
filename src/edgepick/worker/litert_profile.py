"""Per-op CPU profile of a .tflite through the LiteRT C API (CompiledModel profiler) of ai-edge-litert's libLiteRt.so.

Neither the Python Interpreter/CompiledModel nor litert-benchmark give per-op timings. Profiling is enabled by the
opaque option "runtime_options_string" with the TOML-like payload "enable_profiling = true" (what
LrtGetOpaqueRuntimeOptionsData builds; no LrtCreateRuntimeOptions is exported); CPU threads by the opaque option
"xnnpack" with "num_threads = N" (on 2.3.0 the process gains N-1 pthreadpool workers). Verified on 2.3.0:
ProfiledEventData is 104 bytes (tflite MemoryUsage is 3 int64 there, not the 2 of litert_profiler_event.h's C view),
elapsed_time_us is whole microseconds. XNNPACK reports its nodes as DELEGATE_PROFILED_OPERATOR_INVOKE_EVENTs
(metadata1 = node index in the delegate partition), builtin kernels as OPERATOR_INVOKE_EVENTs (tag = op type,
metadata1 = node index, metadata2 = subgraph); whole-run events ("Invoke", "LiteRT::Run[...]") are left out.
"""

from __future__ import annotations

import ctypes as C
import functools
import os
import time

_P, _VP, _SZ = C.POINTER, C.c_void_p, C.c_size_t
_OP, _DELEGATE_OP, _DELEGATE_PROFILED_OP = 2, 4, 8  # tflite::Profiler::EventType values
_STATUS = {1: "InvalidArgument", 2: "MemoryAllocationFailure", 3: "RuntimeFailure", 4: "MissingInputTensor",
           5: "Unsupported", 6: "NotFound", 500: "FileIO"}
# kTfLite* element types -> numpy dtype names
_DTYPES = {1: "float32", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16", 9: "int8", 10: "float16", 11: "float64"}
_RUNTIME_ID, _CPU_ID = b"runtime_options_string", b"xnnpack"


class _Layout(C.Structure):  # LiteRtLayout: 68 bytes
    _fields_ = [("rank", C.c_uint32, 7), ("has_strides", C.c_uint32, 1), ("dims", C.c_int32 * 8), ("strides", C.c_uint32 * 8)]


class _TensorType(C.Structure):  # LiteRtRankedTensorType: 72 bytes
    _fields_ = [("element_type", C.c_int32), ("layout", _Layout)]


class _Event(C.Structure):  # ProfiledEventData as laid out by the C++ side of libLiteRt.so 2.3.x: 104 bytes
    _fields_ = [("tag", C.c_char_p), ("event_type", C.c_int32), ("start_us", C.c_uint64), ("elapsed_us", C.c_uint64),
                ("begin_mem", C.c_int64 * 3), ("end_mem", C.c_int64 * 3), ("metadata1", C.c_uint64), ("metadata2", C.c_uint64),
                ("source", C.c_int32)]


_SIGS = {  # name: argtypes; every function returns LiteRtStatus except those in _VOID
    "LiteRtCreateEnvironment": (C.c_int, _VP, _P(_VP)), "LiteRtCreateModelFromFile": (_VP, C.c_char_p, _P(_VP)),
    "LiteRtCreateOptions": (_P(_VP),), "LiteRtSetOptionsHardwareAccelerators": (_VP, C.c_int),
    "LiteRtCreateOpaqueOptions": (C.c_char_p, _VP, _VP, _P(_VP)), "LiteRtAddOpaqueOptions": (_VP, _VP),
    "LiteRtCreateCompiledModel": (_VP, _VP, _VP, _P(_VP)), "LiteRtGetModelSignature": (_VP, _SZ, _P(_VP)),
    "LiteRtGetNumSignatureInputs": (_VP, _P(_SZ)), "LiteRtGetNumSignatureOutputs": (_VP, _P(_SZ)),
    "LiteRtGetSignatureInputTensorByIndex": (_VP, _SZ, _P(_VP)), "LiteRtGetSignatureOutputTensorByIndex": (_VP, _SZ, _P(_VP)),
    "LiteRtGetRankedTensorType": (_VP, _P(_TensorType)),
    "LiteRtCompiledModelResizeInputTensor": (_VP, _SZ, _SZ, _P(C.c_int), _SZ),
    "LiteRtGetCompiledModelOutputTensorLayouts": (_VP, _SZ, _SZ, _P(_Layout), C.c_bool),
    "LiteRtGetCompiledModelInputBufferRequirements": (_VP, _SZ, _SZ, _P(_VP)),
    "LiteRtGetCompiledModelOutputBufferRequirements": (_VP, _SZ, _SZ, _P(_VP)),
    "LiteRtCreateManagedTensorBufferFromRequirements": (_VP, _P(_TensorType), _VP, _P(_VP)),
    "LiteRtGetTensorBufferPackedSize": (_VP, _P(_SZ)), "LiteRtLockTensorBuffer": (_VP, _P(_VP), C.c_int),
    "LiteRtUnlockTensorBuffer": (_VP,), "LiteRtRunCompiledModel": (_VP, _SZ, _SZ, _P(_VP), _SZ, _P(_VP)),
    "LiteRtCompiledModelGetProfiler": (_VP, _P(_VP)), "LiteRtStartProfiler": (_VP,), "LiteRtStopProfiler": (_VP,),
    "LiteRtResetProfiler": (_VP,), "LiteRtGetNumProfilerEvents": (_VP, _P(C.c_int)),
    "LiteRtGetProfilerEvents": (_VP, C.c_int, _P(_Event)), "LiteRtGetSignatureSubgraph": (_VP, _P(_VP)),
    "LiteRtGetNumSubgraphOps": (_VP, _P(_SZ)), "LiteRtGetSubgraphOp": (_VP, _SZ, _P(_VP)),
    "LiteRtGetNumOpOutputs": (_VP, _P(_SZ)), "LiteRtGetOpOutput": (_VP, _SZ, _P(_VP)),
    "LiteRtGetTensorName": (_VP, _P(C.c_char_p)),
}
_VOID = ("LiteRtDestroyEnvironment", "LiteRtDestroyModel", "LiteRtDestroyOptions", "LiteRtDestroyOpaqueOptions",
         "LiteRtDestroyCompiledModel", "LiteRtDestroyTensorBuffer")


@functools.lru_cache(maxsize=1)
def _lib() -> tuple[C.CDLL, str]:
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("ai_edge_litert")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("ai-edge-litert is not installed (no libLiteRt.so to profile with)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "libLiteRt.so")
    try:
        lib = C.CDLL(path)
    except OSError as e:
        raise RuntimeError(f"cannot load {path}: {e}") from e
    for name, argtypes in [*_SIGS.items(), *((n, (_VP,)) for n in _VOID)]:
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, (None if name in _VOID else C.c_int)
    return lib, importlib.metadata.version("ai-edge-litert")


def _check(lib, name: str, *args) -> None:
    status = getattr(lib, name)(*args)
    if status != 0:
        raise RuntimeError(f"LiteRT C API {name} failed with status {status} ({_STATUS.get(status, 'unknown')})")


def _add_opaque(lib, options, identifier: bytes, payload: str) -> None:
    """Attach an opaque option; the payload is a malloc'd C string that the library frees with libc free()."""
    libc = C.CDLL(None)
    libc.strdup.restype, libc.strdup.argtypes, libc.free.argtypes = _VP, (C.c_char_p,), (_VP,)
    data, opaque = libc.strdup(payload.encode()), _VP()
    try:
        _check(lib, "LiteRtCreateOpaqueOptions", identifier, data, C.cast(libc.free, _VP), C.byref(opaque))
    except RuntimeError:
        libc.free(data)
        raise
    try:
        _check(lib, "LiteRtAddOpaqueOptions", options, opaque)  # on success `options` owns `opaque`
    except RuntimeError:
        lib.LiteRtDestroyOpaqueOptions(opaque)
        raise


def _op_names(lib, sig) -> dict[int, str]:
    """Node index -> name of the op's first output tensor, for the signature's subgraph (best effort)."""
    names: dict[int, str] = {}
    try:
        sub, n, op, n_out, tensor, name = _VP(), _SZ(), _VP(), _SZ(), _VP(), C.c_char_p()
        _check(lib, "LiteRtGetSignatureSubgraph", sig, C.byref(sub))
        _check(lib, "LiteRtGetNumSubgraphOps", sub, C.byref(n))
        for i in range(n.value):
            _check(lib, "LiteRtGetSubgraphOp", sub, i, C.byref(op))
            _check(lib, "LiteRtGetNumOpOutputs", op, C.byref(n_out))
            if n_out.value:
                _check(lib, "LiteRtGetOpOutput", op, 0, C.byref(tensor))
                _check(lib, "LiteRtGetTensorName", tensor, C.byref(name))
                if name.value:
                    names[i] = name.value.decode(errors="replace")
    except RuntimeError:
        pass
    return names


def _run_records(events, names: dict[int, str]) -> list[tuple[str, str, float]]:
    """One run's events -> (name, type, ms) of its operator-level events."""
    has_delegate_ops = any(e.event_type in (_DELEGATE_OP, _DELEGATE_PROFILED_OP) for e in events)
    out, partition, last = [], -1, None
    for e in events:
        tag = (e.tag or b"?").decode(errors="replace")
        if e.event_type in (_OP, _DELEGATE_OP, _DELEGATE_PROFILED_OP) and e.elapsed_us > 10**10:
            raise RuntimeError(f"implausible profiler event ({tag}: {e.elapsed_us} us): ProfiledEventData layout mismatch?")
        if e.event_type in (_DELEGATE_OP, _DELEGATE_PROFILED_OP):
            if last is None or e.metadata1 <= last:  # node indices restart: a new delegate partition
                partition += 1
            last = e.metadata1
            out.append((f"delegate{partition}:{e.metadata1}", tag, e.elapsed_us / 1000.0))
            continue
        last = None
        if e.event_type == _OP:
            if has_delegate_ops and ("delegate" in tag.lower() or tag.startswith("TfLite")):
                continue  # the delegate kernel node: its internal ops are counted instead
            node = f"node {e.metadata1}" if e.metadata2 == 0 else f"subgraph {e.metadata2} node {e.metadata1}"
            name = names.get(e.metadata1, node) if e.metadata2 == 0 else node
            out.append((name, tag, e.elapsed_us / 1000.0))
    return out


def _profile(path: str, threads: int, inputs: list, runs: int, warmup: int = 3) -> dict:
    """profile_tflite plus diagnostics: per-run wall ms of LiteRtRunCompiledModel and per-run sum of op ms."""
    if not os.path.isfile(path):
        raise RuntimeError(f"no such .tflite file: {path}")
    if runs < 1:
        raise RuntimeError(f"runs must be >= 1, got {runs}")
    lib, version = _lib()
    env, model, options, compiled = _VP(), _VP(), _VP(), _VP()
    buffers: list[_VP] = []
    try:
        _check(lib, "LiteRtCreateEnvironment", 0, None, C.byref(env))
        _check(lib, "LiteRtCreateModelFromFile", env, os.fsencode(path), C.byref(model))
        _check(lib, "LiteRtCreateOptions", C.byref(options))
        _check(lib, "LiteRtSetOptionsHardwareAccelerators", options, 1)  # kLiteRtHwAcceleratorCpu
        _add_opaque(lib, options, _RUNTIME_ID, "enable_profiling = true\n")
        if threads and threads > 0:  # otherwise the runtime's default thread count
            _add_opaque(lib, options, _CPU_ID, f"num_threads = {int(threads)}\n")
        _check(lib, "LiteRtCreateCompiledModel", env, model, options, C.byref(compiled))
        sig, n_in, n_out = _VP(), _SZ(), _SZ()
        _check(lib, "LiteRtGetModelSignature", model, 0, C.byref(sig))
        _check(lib, "LiteRtGetNumSignatureInputs", sig, C.byref(n_in))
        _check(lib, "LiteRtGetNumSignatureOutputs", sig, C.byref(n_out))
        if len(inputs) != n_in.value:
            raise RuntimeError(f"model signature 0 has {n_in.value} inputs, got {len(inputs)} arrays")
        types, arrays, resized = _input_types(lib, sig, compiled, inputs)
        types += _output_types(lib, sig, compiled, n_out.value, resized)
        buffers += _filled_buffers(lib, env, compiled, types, arrays, n_in.value)
        ins, outs = (_VP * max(1, n_in.value))(*buffers[: n_in.value]), (_VP * max(1, n_out.value))(*buffers[n_in.value:])
        run_args, profiler = (compiled, 0, n_in.value, ins, n_out.value, outs), _VP()
        _check(lib, "LiteRtCompiledModelGetProfiler", compiled, C.byref(profiler))
        if not profiler.value:
            raise RuntimeError("LiteRtCompiledModelGetProfiler returned no profiler: enable_profiling was not taken")
        for _ in range(max(0, warmup)):
            _check(lib, "LiteRtRunCompiledModel", *run_args)
        n_threads = f"{threads} threads" if threads and threads > 0 else "default threads"
        return {**_profiled_runs(lib, profiler, run_args, _op_names(lib, sig), runs),
                "tool": f"LiteRT C API profiler (libLiteRt.so, ai-edge-litert {version}, CPU, {n_threads})"}
    finally:  # the compiled model owns the profiler, the options own the opaque options added to them
        for kind, handle in [*(("TensorBuffer", b) for b in buffers), ("CompiledModel", compiled), ("Options", options),
                             ("Model", model), ("Environment", env)]:
            if handle.value:
                getattr(lib, f"LiteRtDestroy{kind}")(handle)


def _input_types(lib, sig, compiled, inputs: list) -> tuple[list, list, bool]:
    """Each input's tensor type with the array's shape (dynamic dims resized to it), the arrays, and whether any was."""
    import numpy as np

    types, arrays, resized = [], [], False
    for i, arr in enumerate(inputs):
        tensor, tt = _VP(), _TensorType()
        _check(lib, "LiteRtGetSignatureInputTensorByIndex", sig, i, C.byref(tensor))
        _check(lib, "LiteRtGetRankedTensorType", tensor, C.byref(tt))
        dtype = _DTYPES.get(tt.element_type)
        if dtype is None:
            raise RuntimeError(f"input {i}: unsupported LiteRT element type {tt.element_type}")
        try:
            a = np.ascontiguousarray(arr, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise RuntimeError(f"input {i}: cannot be read as a {dtype} array: {e}") from e
        dims = list(tt.layout.dims[: tt.layout.rank])
        if a.ndim != len(dims) or any(d >= 0 and d != s for d, s in zip(dims, a.shape)):
            raise RuntimeError(f"input {i}: array shape {a.shape} does not fit the model's {dims}")
        if any(d < 0 for d in dims):  # dynamic dimension: resize to the array's shape
            shape = (C.c_int * a.ndim)(*a.shape)
            _check(lib, "LiteRtCompiledModelResizeInputTensor", compiled, 0, i, shape, a.ndim)
            resized = True
        for k, s in enumerate(a.shape):
            tt.layout.dims[k] = s
        types.append(tt)
        arrays.append(a)
    return types, arrays, resized


def _output_types(lib, sig, compiled, n_out: int, resized: bool) -> list:
    layouts = (_Layout * max(1, n_out))()
    _check(lib, "LiteRtGetCompiledModelOutputTensorLayouts", compiled, 0, n_out, layouts, resized)
    types = []
    for j in range(n_out):
        tensor, tt = _VP(), _TensorType()
        _check(lib, "LiteRtGetSignatureOutputTensorByIndex", sig, j, C.byref(tensor))
        _check(lib, "LiteRtGetRankedTensorType", tensor, C.byref(tt))
        tt.layout = layouts[j]
        types.append(tt)
    return types


def _filled_buffers(lib, env, compiled, types: list, arrays: list, n_in: int) -> list:
    """One managed buffer per input and output; the inputs' hold the arrays."""
    buffers = []
    for k, tt in enumerate(types):
        req, buf, size, host = _VP(), _VP(), _SZ(), _VP()
        kind, idx = ("Input", k) if k < n_in else ("Output", k - n_in)
        _check(lib, f"LiteRtGetCompiledModel{kind}BufferRequirements", compiled, 0, idx, C.byref(req))
        _check(lib, "LiteRtCreateManagedTensorBufferFromRequirements", env, C.byref(tt), req, C.byref(buf))
        buffers.append(buf)
        if kind == "Input":
            _check(lib, "LiteRtGetTensorBufferPackedSize", buf, C.byref(size))
            if size.value != arrays[k].nbytes:
                raise RuntimeError(f"input {k}: buffer holds {size.value} bytes, the array {arrays[k].nbytes}")
            _check(lib, "LiteRtLockTensorBuffer", buf, C.byref(host), 1)  # kLiteRtTensorBufferLockModeWrite
            C.memmove(host, arrays[k].ctypes.data, arrays[k].nbytes)
            _check(lib, "LiteRtUnlockTensorBuffer", buf)
    return buffers


def _profiled_runs(lib, profiler, run_args: tuple, names: dict, runs: int) -> dict:
    totals: dict[tuple[str, str], float] = {}
    walls, op_sums, n = [], [], C.c_int()
    for _ in range(runs):  # one run per profiler window keeps the event buffer small
        _check(lib, "LiteRtResetProfiler", profiler)
        _check(lib, "LiteRtStartProfiler", profiler)
        t0 = time.perf_counter()
        _check(lib, "LiteRtRunCompiledModel", *run_args)
        walls.append((time.perf_counter() - t0) * 1000.0)
        _check(lib, "LiteRtStopProfiler", profiler)
        _check(lib, "LiteRtGetNumProfilerEvents", profiler, C.byref(n))
        events = (_Event * max(1, n.value))()
        if n.value:
            _check(lib, "LiteRtGetProfilerEvents", profiler, n.value, events)
        recs = _run_records(list(events)[: n.value], names)
        op_sums.append(sum(ms for _, _, ms in recs))
        for name, op_type, ms in recs:
            totals[(name, op_type)] = totals.get((name, op_type), 0.0) + ms
    return {"records": [(name, op_type, ms) for (name, op_type), ms in totals.items()], "wall_ms": walls,
            "op_sum_ms": op_sums}


def profile_tflite(path: str, threads: int, inputs: list, runs: int) -> tuple[list[tuple[str, str, float]], str]:
    """Per-op CPU profile of a .tflite: 3 warm-up runs, then `runs` profiled ones with `inputs` (signature 0 order).

    Returns ([(op or node name, op type, total ms over all runs)], tool). Op types are XNNPACK's node types (e.g.
    "Convolution (NHWC, F32) IGEMM") for delegated ops and TFLite builtin codes (e.g. "CONV_2D") for the rest.
    Raises RuntimeError naming the failing C call and its status.
    """
    out = _profile(path, threads, inputs, runs)
    return out["records"], out["tool"]
