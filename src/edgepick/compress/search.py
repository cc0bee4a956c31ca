"""Accuracy-aware search over compressed candidates.

- `judge`: a compressed row's verdict is its metric drop against the FP32 reference, within --max-acc-drop
  (relative or absolute), not FP32 bit-closeness; the equivalence figures are still recorded.
- `follow_up`: when an ORT INT8 configuration (static or dynamic) drops too much, rank its quantized nodes by sensitivity
  (the metric recovered when only that node stays float, scored in-process on the eval data) and re-quantize with
  the top 1, 2, 4, ... nodes excluded, each a measured candidate, until one passes. NNCF's accuracy control does
  the same for OpenVINO inside `nncf.quantize_with_accuracy_control`.
- `fastest_within`: the stopping rule. Every configuration is measured; the answer is the fastest that passes,
  never simply the first.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

from edgepick import errors

MAX_SENSITIVITY_NODES = 24  # leave-one-out costs one quantization + one eval pass per node
REVERTIBLE = ("int8-static", "int8-dynamic")  # the ORT passes that take nodes_to_exclude


def judge(row: dict, outputs, cs) -> None:
    score = cs.metric.score(outputs, cs.data.labels, cs.reference)
    drop = cs.tolerance.drop(cs.reference_score, score)
    passed = cs.tolerance.passes(cs.reference_score, score)
    row["metric"] = {"name": cs.metric.name, "score": score, "reference": cs.reference_score, "drop": drop,
                     "tolerance": cs.tolerance.describe(), "passed": passed}
    if passed:
        row["status"], row["reason_class"], row["reason"] = "ok", None, None
    else:
        unit = f"{drop * 100:.2f}%" if cs.tolerance.relative else f"{drop:.4g}"
        row["status"], row["reason_class"] = "disagrees", errors.DISAGREES
        row["reason"] = (f"{cs.metric.name} {score:.4f} vs FP32 {cs.reference_score:.4f}: drop {unit} over "
                         f"--max-acc-drop {cs.tolerance.describe()}")


def fastest_within(rows: list[dict]) -> dict | None:
    """The fastest (p50) row among those that passed, at the smallest batch; None if none passed."""
    ok = [r for r in rows if r["status"] == "ok" and r.get("latency_ms")]
    if not ok:
        return None
    smallest = min(r["batch"] for r in ok)
    return min((r for r in ok if r["batch"] == smallest), key=lambda r: r["latency_ms"]["p50"])


def _quantize_excluding(compressor: str, src: str, out: str, cs, opts: dict, exclude: list[str]) -> None:
    if compressor == "int8-dynamic":
        from edgepick.compress.int8_dynamic import quantize_dyn

        quantize_dyn(src, out, bool(opts.get("per_channel", False)), exclude)
    else:
        from edgepick.compress.int8_static import quantize_qdq

        quantize_qdq(src, out, cs.calibration, opts.get("method", "minmax"), bool(opts.get("per_channel", True)), exclude)


def sensitivity(fp32_path: str, cs, compressor: str, opts: dict) -> list[dict]:
    """Per quantizable node: the metric when only that node stays float (higher = more sensitive)."""
    from edgepick.compress.onnx_util import quantizable_nodes, run_onnx

    nodes = quantizable_nodes(fp32_path)[:MAX_SENSITIVITY_NODES]
    ranked = []
    with tempfile.TemporaryDirectory() as tmp:
        for node in nodes:
            out = str(Path(tmp) / "q.onnx")
            _quantize_excluding(compressor, fp32_path, out, cs, opts, [node])
            got = run_onnx(out, cs.data.inputs, cs.threads)
            ranked.append({"node": node, "score_if_float": cs.metric.score(got, cs.data.labels, cs.reference)})
    ranked.sort(key=lambda d: -d["score_if_float"])
    return ranked


def follow_up(rows: list[dict], cs, threads: list[int], batches: list[int], notify):
    """Yield extra candidates; after each yield the caller has appended its measured row to `rows`."""
    from edgepick.compress import isolated
    from edgepick.compress.plan import candidates_for

    failing = {}
    for r in rows:
        label = (r.get("compression") or {}).get("label", "")
        compressor = (r.get("compression") or {}).get("compressor")
        if (r["runtime"] == "onnxruntime" and compressor in REVERTIBLE and r["status"] == "disagrees"
                and "-float" not in label):
            failing.setdefault(label, r)
    for label, row in failing.items():
        opts = row["compression"].get("options", {})
        compressor = row["compression"]["compressor"]
        notify("compressing", {"key": f"{label}: per-node sensitivity"})
        try:
            with contextlib.redirect_stdout(sys.stderr):  # ORT's calibrators print; stdout is for --json
                ranked = isolated.sensitivity(cs, compressor, opts)  # quantizes and runs: in a capped worker
        except Exception as e:  # recorded on the row that asked for it; the sweep goes on
            row["compression"]["revert"] = f"sensitivity analysis failed: {type(e).__name__}: {e}"
            continue
        row["compression"]["sensitivity"] = ranked
        k = 1
        while k <= len(ranked):
            exclude = [d["node"] for d in ranked[:k]]
            sub = f"{label}-float{k}"
            produced = candidates_for(compressor, sub, dict(opts, nodes_to_exclude=exclude), ["onnxruntime"],
                                      threads, batches, cs, notify)
            passed = False
            for cand in produced:
                yield cand
                passed = passed or rows[-1]["status"] == "ok"
            if passed:
                break
            k *= 2
