"""Where the time goes: per-op profiles from each runtime's own profiler, mapped onto the common op vocabulary.

- onnxruntime: SessionOptions.enable_profiling (a second session, so profiling never slows the timed one);
  'Node' events of the JSON trace, op type and input shapes from their args.
- openvino: a second compiled model with PERF_COUNT, InferRequest.profiling_info (real_time of executed nodes).
- torch-eager / torchscript / torch-compile: torch.profiler around the loaded session, self CPU time per aten op
  (self time, so nested ops are not counted twice), with input shapes to tell depthwise convolutions apart.
- litert: the LiteRT C API profiler of ai-edge-litert's own libLiteRt.so, through ctypes (worker/litert_profile.py),
  because neither its Python Interpreter nor the shipped litert-benchmark reports per-op timings. A second compiled
  model with profiling on, same .tflite and threads; XNNPACK's per-node events (1 us resolution).

Each op record: {name, op_type, family, ms (mean per inference), calls}. Profiled timings include the profiler's
own overhead; they are for shares (which family dominates), not for the headline latency.
"""

from __future__ import annotations

import json
from pathlib import Path

from edgepick.measure.opvocab import family, is_depthwise, top_families


def profile_ops(runtime_name: str, artifact, threads: int, session, raw_inputs: dict, runs: int, work_dir: Path) -> dict:
    # torchscript and torch-compile sessions run torch ops in this process too, so the torch profiler sees them
    profilers = {"onnxruntime": _ort, "openvino": _openvino, "torch-eager": _torch, "torchscript": _torch,
                 "torch-compile": _torch, "litert": _litert}
    fn = profilers.get(runtime_name)
    if fn is None:
        return {"available": False, "why": f"no op profiler wired for runtime '{runtime_name}'"}
    ops, tool = fn(artifact, threads, session, raw_inputs, max(1, runs), work_dir)
    ops.sort(key=lambda o: -o["ms"])
    return {"available": True, "tool": tool, "runs": runs, "total_ms": sum(o["ms"] for o in ops),
            "families": top_families(ops, n=len(ops) or 1), "ops": ops[:40]}


def _merge(records: list[tuple[str, str, bool, float]], runs: int) -> list[dict]:
    """(name, op_type, depthwise, ms) events -> one record per op name, mean ms per inference."""
    merged: dict[str, dict] = {}
    for name, op_type, depthwise, ms in records:
        rec = merged.setdefault(name, {"name": name, "op_type": op_type, "family": family(op_type, depthwise),
                                       "ms": 0.0, "calls": 0})
        rec["ms"] += ms / runs
        rec["calls"] += 1
    return list(merged.values())


def _channels(shape) -> int | None:
    return shape[1] if shape and len(shape) > 1 else None


def parse_ort_trace(events: list[dict], runs: int) -> list[dict]:
    records = []
    for ev in events:
        args = ev.get("args") or {}
        if ev.get("cat") != "Node" or "op_name" not in args or not str(ev.get("name", "")).endswith("_kernel_time"):
            continue
        shapes = [next(iter(s.values())) for s in args.get("input_type_shape", []) if isinstance(s, dict) and s]
        dw = False
        if "conv" in args["op_name"].lower() and len(shapes) > 1:
            dw = is_depthwise(_channels(shapes[0]), shapes[1])
        records.append((ev["name"][: -len("_kernel_time")], args["op_name"], dw, ev.get("dur", 0) / 1e3))
    return _merge(records, runs)


def _ort(artifact, threads, session, raw_inputs, runs, work_dir):
    import onnxruntime as ort

    from edgepick.runtimes.onnxruntime import session_options

    opts = session_options(threads)
    opts.enable_profiling = True
    opts.profile_file_prefix = str(work_dir / "ort_profile")
    sess = ort.InferenceSession(artifact.path, sess_options=opts, providers=["CPUExecutionProvider"])
    feeds = {i.name: raw_inputs[i.name] for i in sess.get_inputs()}
    sess.run(None, feeds)  # the first call allocates; keep it out of the profile's per-op means
    for _ in range(runs):
        sess.run(None, feeds)
    path = sess.end_profiling()
    events = json.loads(Path(path).read_text())
    # drop the warm-up call's events: the first 1/(runs+1) of each node's kernel events
    per_node: dict[str, list] = {}
    for ev in events:
        per_node.setdefault(ev.get("name"), []).append(ev)
    kept = [ev for evs in per_node.values() for ev in (evs[1:] if len(evs) == runs + 1 else evs)]
    return parse_ort_trace(kept, runs), "onnxruntime SessionOptions.enable_profiling"


def _openvino(artifact, threads, session, raw_inputs, runs, work_dir):
    import openvino as ov
    import openvino.properties as props

    from edgepick.runtimes.base import run_precision
    from edgepick.runtimes.openvino import OV_PRECISION

    core = ov.Core()
    config = {props.inference_num_threads: threads, props.num_streams: 1, props.enable_profiling: True,
              # the row's precision, never the CPU plugin's default (BF16 on BF16-capable CPUs)
              props.hint.inference_precision: artifact.meta.get("inference_precision")
              or OV_PRECISION.get(run_precision(artifact), "f32")}
    compiled = core.compile_model(core.read_model(artifact.path), "CPU", config)
    request = compiled.create_infer_request()
    for name, value in raw_inputs.items():
        request.set_tensor(name, ov.Tensor(value))
    request.infer()
    totals: dict[str, list] = {}
    for _ in range(runs):
        request.infer()
        for info in request.profiling_info:
            if str(info.status).endswith("EXECUTED") and "NOT_RUN" not in str(info.status):
                entry = totals.setdefault(info.node_name, [info.node_type, info.exec_type, 0.0])
                entry[2] += info.real_time.total_seconds() * 1e3
    records = []
    for name, (node_type, exec_type, ms) in totals.items():
        dw = node_type == "GroupConvolution" and "dw" in exec_type.lower()
        records.append((name, node_type, dw, ms))
    ops = _merge(records, runs)
    for op in ops:
        op["calls"] = runs
    return ops, "openvino PERF_COUNT profiling_info"


def _torch(artifact, threads, session, raw_inputs, runs, work_dir):
    from torch.profiler import ProfilerActivity, profile

    prepared = session.prepare(raw_inputs)
    session.run(prepared)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(runs):
            session.run(prepared)
    records = []
    for evt in prof.key_averages(group_by_input_shape=True):
        if not evt.key.startswith("aten::") or evt.self_cpu_time_total <= 0:
            continue
        shapes = list(evt.input_shapes or [])
        dw = "conv" in evt.key and len(shapes) > 1 and is_depthwise(_channels(shapes[0]), shapes[1])
        fam_key = f"{evt.key} dw" if dw else evt.key  # one record per op kind, split by depthwise-ness
        records.append((fam_key, evt.key, dw, evt.self_cpu_time_total / 1e3))
    return _merge(records, runs), "torch.profiler (self CPU time per aten op)"


def _litert(artifact, threads, session, raw_inputs, runs, work_dir):
    from edgepick.worker.litert_profile import profile_tflite

    # the C API takes signature 0's inputs by position: the order the session feeds them (by name where it can)
    order = [d["index"] for d in session.inputs]
    by_index = dict(zip(session._index_of(list(raw_inputs)), raw_inputs.values()))
    records, tool = profile_tflite(artifact.path, threads, [by_index[i] for i in order], runs)
    try:
        graph_ops = [op["op_name"] for op in session.interpreter._get_ops_details()]
    except Exception:  # a private helper of the Interpreter: without it the XNNPACK names stay as they are
        graph_ops = []
    records = align_xnnpack(records, graph_ops)
    ops = _merge([(name, op_type, False, ms) for name, op_type, ms in records], runs)
    for op in ops:  # each record is already one node's total over all runs
        op["calls"] = runs
    return ops, tool


_TFLITE_HEAVY = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")


def _compatible(tflite_op: str, xnn_type: str) -> bool:
    low = xnn_type.lower()
    if xnn_type in _TFLITE_HEAVY:  # a builtin (not delegated) kernel keeps the graph's own name
        return xnn_type == tflite_op
    return {"CONV_2D": low.startswith(("convolution", "fully connected")) and "dwconv" not in low,
            "DEPTHWISE_CONV_2D": "dwconv" in low, "FULLY_CONNECTED": low.startswith("fully connected"),
            "TRANSPOSE_CONV": low.startswith("deconvolution")}[tflite_op]


def align_xnnpack(records: list[tuple[str, str, float]], graph_ops: list[str]) -> list[tuple[str, str, float]]:
    """XNNPACK runs a 1x1 CONV_2D as a "Fully Connected" GEMM; name such nodes by the graph op they execute.

    Without this a MobileNet's pointwise convolutions (most of its time) land in matmul/gemm on LiteRT and in conv on
    every other runtime. XNNPACK keeps the graph's order, so the i-th convolution-or-GEMM node is the i-th CONV_2D /
    DEPTHWISE_CONV_2D / FULLY_CONNECTED / TRANSPOSE_CONV op of the .tflite. The mapping is used only when the counts
    match and every pair is compatible; otherwise the records are returned unchanged.
    """
    graph = [op for op in graph_ops if op in _TFLITE_HEAVY]
    heavy = [i for i, (_, t, _) in enumerate(records)
             if t in _TFLITE_HEAVY or t.lower().startswith(("convolution", "fully connected", "deconvolution"))]
    if not graph or len(graph) != len(heavy) or not all(_compatible(g, records[i][1]) for g, i in zip(graph, heavy)):
        return records
    out = list(records)
    for op, i in zip(graph, heavy):
        name, xnn_type, ms = out[i]
        if op == "CONV_2D" and xnn_type.lower().startswith("fully connected"):
            out[i] = (f"{name} [1x1 CONV_2D run as {xnn_type}]", "CONV_2D", ms)
    return out
