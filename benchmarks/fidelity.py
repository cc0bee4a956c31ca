"""Fidelity benchmark (issue 2): do edgepick's numbers match the vendors' own tools and a bare loop?

On mobilenetv2-like exported to ONNX, with 2 threads, in one run, for ROUNDS interleaved rounds:
  - edgepick's OpenVINO p50  vs  `benchmark_app -hint none -api sync -nstreams 1 -nthreads 2` (same IR file)
  - edgepick's ONNX Runtime p50  vs  a bare `session.run` loop in a fresh process pinned to the same cores
  - (issue 10) on the same network exported with dynamic batch, height and width, measured at 1x3x320x320:
    edgepick's OpenVINO FP32 p50  vs  `benchmark_app -m model.onnx -shape [1,3,320,320] -infer_precision f32 ...`
    (edgepick must compile for the measured shape and pin FP32, as benchmark_app does with those flags)
and the per-call harness overhead (edgepick's timed loop around a no-op call, and its Session wrapper).
Target ratios 0.97-1.03; overhead < 20 us. Run with `make bench`; results land in benchmarks/results/.
FIDELITY_PAIRS=openvino-dynamic (comma-separated pair names) measures only those pairs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
THREADS = 2
SECONDS = float(os.environ.get("FIDELITY_SECONDS", "4"))
ROUNDS = int(os.environ.get("FIDELITY_ROUNDS", "8"))

BARE_ORT = r"""
import os, sys, time, numpy as np, onnxruntime as ort
os.sched_setaffinity(0, {cores})
o = ort.SessionOptions(); o.intra_op_num_threads = {threads}; o.inter_op_num_threads = 1
o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
s = ort.InferenceSession({path!r}, o, providers=["CPUExecutionProvider"])
x = {{s.get_inputs()[0].name: np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)}}
end = time.perf_counter() + 1.0
while time.perf_counter() < end: s.run(None, x)
t = []
end = time.perf_counter() + {seconds}
while time.perf_counter() < end:
    a = time.perf_counter_ns(); s.run(None, x); t.append(time.perf_counter_ns() - a)
print(np.median(t) / 1e6)
"""

# What compiling for the measured shape is worth: the dynamic-HxW model compiled as read (what edgepick did before
# issue 10) and reshaped to the measured shape, in one process, alternating short windows so load affects both alike.
STATIC_VS_DYNAMIC = r"""
import os, time, numpy as np, openvino as ov, openvino.properties as p
os.sched_setaffinity(0, {cores})
core = ov.Core()
cfg = {{p.inference_num_threads: {threads}, p.num_streams: 1, p.hint.inference_precision: "f32"}}
x = np.random.default_rng(1).standard_normal({shape}).astype(np.float32)
reqs = {{}}
for kind in ("dynamic", "static"):
    m = core.read_model({path!r})
    if kind == "static":
        m.reshape({shape})
    reqs[kind] = core.compile_model(m, "CPU", cfg).create_infer_request()
    reqs[kind].set_tensor(m.inputs[0].get_any_name(), ov.Tensor(x))
    for _ in range(10): reqs[kind].infer()
t = {{"dynamic": [], "static": []}}
for _ in range({windows}):
    for kind in ("dynamic", "static"):
        end = time.perf_counter() + 0.5
        while time.perf_counter() < end:
            a = time.perf_counter_ns(); reqs[kind].infer(); t[kind].append(time.perf_counter_ns() - a)
print(np.median(t["dynamic"]) / 1e6, np.median(t["static"]) / 1e6)
"""


def static_vs_dynamic(model: Path, windows: int = 20) -> dict:
    code = STATIC_VS_DYNAMIC.format(cores=cores(), threads=THREADS, path=str(model), shape=DYNAMIC_SHAPE, windows=windows)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    dynamic, static = float(out[0]), float(out[1])
    return {"dynamic_p50_ms": dynamic, "static_p50_ms": static, "dynamic_over_static": dynamic / static,
            "loadavg_1m": os.getloadavg()[0]}


def export_model(work: Path) -> Path:
    import torch

    from edgepick.zoo.mobilenet import build

    path = work / "mobilenetv2-like.onnx"
    torch.onnx.export(build(), (torch.randn(1, 3, 224, 224),), str(path), input_names=["input"], dynamo=False)
    return path


DYNAMIC_SHAPE = [1, 3, 320, 320]


def export_dynamic_model(work: Path) -> Path:
    """mobilenetv2-like with dynamic batch, height and width (like detectors and OCR nets ship)."""
    import torch

    from edgepick.zoo.mobilenet import build

    path = work / "mobilenetv2-like-dynamic-hw.onnx"
    torch.onnx.export(build(), (torch.randn(1, 3, 224, 224),), str(path), input_names=["images"], dynamo=False,
                      dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}})
    return path


def edgepick_row(model: Path, home: Path, runtime: str, **options) -> dict:
    """The row of one fresh edgepick measurement of `runtime` (FP32 rows only)."""
    import edgepick
    from edgepick.worker.latency import TimingPolicy

    os.environ["EDGEPICK_HOME"] = str(home)
    run = edgepick.pick(str(model), runtimes=[runtime], threads=THREADS, force=True, noise_retry=False,
                        timing=TimingPolicy(warmup_s=1.0, min_duration_s=SECONDS, max_duration_s=SECONDS * 3),
                        precisions=["fp32"], **options)
    row = run.rows[0]
    if row["status"] != "ok":
        sys.exit(f"edgepick {runtime} failed: {row['reason']}")
    return row


def edgepick_p50(model: Path, home: Path, runtime: str, with_min: bool = False, **options) -> tuple:
    """(p50 ms, artifact path) of one fresh edgepick measurement of `runtime`; with_min: the first element is
    (p50, min) instead."""
    row = edgepick_row(model, home, runtime, **options)
    lat = row["latency_ms"]
    return ((lat["p50"], lat["min"]) if with_min else lat["p50"]), row["artifact"]["path"]


def benchmark_app_output(ir: str, *extra: str, seconds: float = SECONDS) -> str:
    """benchmark_app at FP32 (-infer_precision f32: its CPU default is BF16 on BF16-capable CPUs), plus `extra`."""
    tool = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    cmd = [tool, "-m", ir, "-d", "CPU", "-hint", "none", "-api", "sync", "-nstreams", "1", "-nthreads", str(THREADS),
           "-t", str(max(1, int(seconds))), "-pin", "YES", "-infer_precision", "f32", *extra]
    return subprocess.run(["taskset", "-c", ",".join(map(str, cores())), *cmd], capture_output=True, text=True,
                          check=True).stdout


def settings_match(model: Path, home: Path, shape: list[int]) -> dict:
    """Load-independent half of the check: the compiled model edgepick measures has the same properties and input
    shape as the one benchmark_app measures (its "Model:" and "Model inputs:" lines)."""
    from edgepick.runtimes.openvino import COMPARED_PROPERTIES

    out = benchmark_app_output(str(model), "-shape", "[" + ",".join(map(str, shape)) + "]", seconds=1)
    theirs = {k: v.strip() for k, v in re.findall(r"\[ INFO \]\s+([A-Z_]+): (.*)", out) if k in COMPARED_PROPERTIES}
    their_shape = re.search(r"Model inputs:\s*\n.*/ (\[[0-9,]+\])\s*$", out, re.M)
    details = edgepick_row(model, home, "openvino", input_shape="x".join(map(str, shape)))["runtime_details"]
    ours = details["properties"]
    differences = {k: (ours.get(k), theirs.get(k)) for k in COMPARED_PROPERTIES if ours.get(k) != theirs.get(k)}
    our_shape = next(iter(details["compiled_shapes"].values()))
    return {"matches": not differences and their_shape is not None and our_shape == their_shape.group(1),
            "differences": differences, "edgepick_compiled_shape": our_shape,
            "benchmark_app_shape": their_shape.group(1) if their_shape else None, "properties": ours}


def benchmark_app_p50(ir: str, *extra: str, with_min: bool = False):
    out = benchmark_app_output(ir, *extra)
    median = float(re.search(r"Median:\s+([0-9.]+)\s*ms", out).group(1))
    return (median, float(re.search(r"Min:\s+([0-9.]+)\s*ms", out).group(1))) if with_min else median


def litert_benchmark_p50(tflite: str, runs: int) -> float:
    """`litert-benchmark --num_threads 2` (ships in ai-edge-litert) on the same .tflite, pinned to the same cores."""
    tool = shutil.which("litert-benchmark") or str(Path(sys.executable).with_name("litert-benchmark"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run(["taskset", "-c", ",".join(map(str, cores())), tool, "--model", tflite, "--use_cpu",
                        "--num_threads", str(THREADS), "--num_runs", str(runs), "--warmup_runs", str(max(10, runs // 20)),
                        "--result_json", str(out)], capture_output=True, text=True, check=True)
        return float(json.loads(out.read_text())["latency"]["median_ms"])


def bare_ort_p50(model: Path) -> float:
    code = BARE_ORT.format(cores=cores(), threads=THREADS, path=str(model), seconds=SECONDS)
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))[:THREADS]


def harness_overhead_us() -> dict[str, float]:
    """The cost the harness adds per timed call: the clock pair and loop around a no-op, and the Session wrapper."""
    from edgepick.worker.latency import TimingPolicy, timed_loop

    policy = TimingPolicy(warmup_count=1000, warmup_s=0.1, min_samples=100_000, min_duration_s=1.0)
    loop, _ = timed_loop(lambda: None, policy)
    return {"timed_loop_noop_p50_us": float(np.median(loop)) / 1e3}


def build_pairs(work: Path, home: Path, wanted: set[str] | None, extras: dict) -> dict:
    """{pair name: (edgepick's p50, the reference tool's p50)} as callables; `wanted` None means every pair."""
    pairs = {}
    if wanted is None or wanted & {"openvino", "onnxruntime"}:
        model = export_model(work)
        _, ir = edgepick_p50(model, home, "openvino")  # converts once; later rounds reuse the cached IR
        pairs["openvino"] = (lambda: edgepick_p50(model, home, "openvino")[0], lambda: benchmark_app_p50(ir))
        pairs["onnxruntime"] = (lambda: edgepick_p50(model, home, "onnxruntime")[0], lambda: bare_ort_p50(model))
    if wanted is None or "openvino-dynamic" in wanted:
        dynamic = export_dynamic_model(work)
        shape = "x".join(map(str, DYNAMIC_SHAPE))
        edgepick_p50(dynamic, home, "openvino", input_shape=shape)  # convert once
        extras["settings_vs_benchmark_app"] = settings_match(dynamic, home, DYNAMIC_SHAPE)
        print(f"settings edgepick vs benchmark_app: {extras['settings_vs_benchmark_app']}", flush=True)
        extras["static_vs_dynamic"] = static_vs_dynamic(dynamic)
        print(f"OpenVINO on the dynamic-HxW model, one process, alternating windows: as read (dynamic) "
              f"{extras['static_vs_dynamic']['dynamic_p50_ms']:.3f} ms, reshaped (static) "
              f"{extras['static_vs_dynamic']['static_p50_ms']:.3f} ms, ratio "
              f"{extras['static_vs_dynamic']['dynamic_over_static']:.3f} (load {extras['static_vs_dynamic']['loadavg_1m']:.2f})",
              flush=True)
        # (p50, min) each: on a shared machine the minimum is the least disturbed figure, shown beside the medians
        pairs["openvino-dynamic"] = (
            lambda: edgepick_p50(dynamic, home, "openvino", with_min=True, input_shape=shape)[0],
            lambda: benchmark_app_p50(str(dynamic), "-shape", "[" + ",".join(map(str, DYNAMIC_SHAPE)) + "]",
                                      with_min=True))
    if wanted is None or "litert" in wanted:
        try:  # LiteRT: the .tflite edgepick makes from the same network (litert-torch, or ONNX -> onnx2tf)
            lite_p50, tflite = edgepick_p50("mobilenetv2-like", home, "litert")
            runs = max(50, int(SECONDS * 1000 / lite_p50))
            pairs["litert"] = (lambda: edgepick_p50("mobilenetv2-like", home, "litert")[0],
                               lambda: litert_benchmark_p50(tflite, runs))
        except SystemExit as why:
            print(f"LiteRT pair skipped: {why}", flush=True)
    return {k: v for k, v in pairs.items() if wanted is None or k in wanted}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="edgepick-fidelity-"))
    home = work / "home"
    wanted = {p.strip() for p in os.environ["FIDELITY_PAIRS"].split(",")} if os.environ.get("FIDELITY_PAIRS") else None
    extras: dict = {}  # figures measured once, outside the rounds
    pairs = build_pairs(work, home, wanted, extras)
    rounds = []
    # The VM drifts by tens of percent over minutes, so each pair is measured back to back, in alternating order
    # (A B, then B A), and the verdict is the median of the per-round ratios.
    for i in range(ROUNDS):
        r = {"loadavg_1m": os.getloadavg()[0]}  # the machine may be shared: the load beside every round
        for name, (ours, theirs) in pairs.items():
            first, second = (ours, theirs) if i % 2 == 0 else (theirs, ours)
            a, b = first(), second()
            ep, ref = (a, b) if i % 2 == 0 else (b, a)
            r[name] = _round_entry(ep, ref)
        rounds.append(r)
        print(f"round {i + 1} (load {r['loadavg_1m']:.2f}): " + ", ".join(
            f"{k} {v['edgepick_p50_ms']:.3f}/{v['reference_p50_ms']:.3f} ms ({v['ratio']:.3f})"
            + (f", min {v['edgepick_min_ms']:.3f}/{v['reference_min_ms']:.3f} ({v['min_ratio']:.3f})" if "min_ratio" in v else "")
            for k, v in r.items() if k in pairs), flush=True)
    summary = {name: {"ratio_median": statistics.median(r[name]["ratio"] for r in rounds),
                      "edgepick_p50_ms": statistics.median(r[name]["edgepick_p50_ms"] for r in rounds),
                      "reference_p50_ms": statistics.median(r[name]["reference_p50_ms"] for r in rounds),
                      "ratio_range": [min(r[name]["ratio"] for r in rounds), max(r[name]["ratio"] for r in rounds)],
                      **({"min_ratio_median": statistics.median(r[name]["min_ratio"] for r in rounds)}
                         if "min_ratio" in rounds[0][name] else {})}
               for name in pairs}
    result = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": _machine(),
              "seconds_per_measurement": SECONDS, "rounds": rounds, "summary": summary, **extras,
              **harness_overhead_us()}
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"fidelity-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))
    labels = {"openvino": "OpenVINO vs benchmark_app", "onnxruntime": "ONNX Runtime vs bare session.run loop",
              "litert": "LiteRT vs litert-benchmark --num_threads 2",
              "openvino-dynamic": "OpenVINO, dynamic-HxW ONNX at 1x3x320x320, vs benchmark_app -shape -infer_precision f32"}
    print("| pair | edgepick p50 ms | reference p50 ms | ratio (median of rounds) | ratio range |\n|---|---|---|---|---|")
    for name, s in summary.items():
        label = labels[name]
        print(f"| {label} | {s['edgepick_p50_ms']:.3f} | {s['reference_p50_ms']:.3f} | {s['ratio_median']:.3f} | "
              f"{s['ratio_range'][0]:.3f}-{s['ratio_range'][1]:.3f} |")
        if "min_ratio_median" in s:
            print(f"  {name}: ratio of the minima, median of rounds: {s['min_ratio_median']:.3f}")
    print(f"harness overhead per call (timed no-op): {result['timed_loop_noop_p50_us']:.2f} us")
    shutil.rmtree(work, ignore_errors=True)


def _round_entry(ours, theirs) -> dict:
    """One pair's figures in one round: p50s and their ratio, plus minima and theirs when both sides gave (p50, min)."""
    if isinstance(ours, tuple) and isinstance(theirs, tuple):
        return {"edgepick_p50_ms": ours[0], "reference_p50_ms": theirs[0], "ratio": ours[0] / theirs[0],
                "edgepick_min_ms": ours[1], "reference_min_ms": theirs[1], "min_ratio": ours[1] / theirs[1]}
    return {"edgepick_p50_ms": ours, "reference_p50_ms": theirs, "ratio": ours / theirs}


def _machine() -> str:
    from edgepick.core.fingerprint import fingerprint

    fp = fingerprint("-")
    return f"{fp['cpu_model']}, {fp['usable_cores']} cores, {fp['memory_gb']} GB, {fp['os']}"


if __name__ == "__main__":
    main()
