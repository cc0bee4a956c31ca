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

from edgepick.core import errors

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
        from edgepick.compress.passes.int8_dynamic import quantize_dyn

        quantize_dyn(src, out, bool(opts.get("per_channel", False)), exclude)
    else:
        from edgepick.compress.passes.int8_static import quantize_qdq

        quantize_qdq(src, out, cs.calibration, opts.get("method", "minmax"), bool(opts.get("per_channel", True)), exclude)


def sensitivity(fp32_path: str, cs, compressor: str, opts: dict) -> list[dict]:
    """Per quantizable node: the metric when only that node stays float (higher = more sensitive)."""
    from edgepick.compress.passes.onnx_util import quantizable_nodes, run_onnx

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


def follow_up(rows: list[dict], cs, threads: list[int], batches: list[int], notify) -> list:
    """The next follow-up candidates, given every row measured so far in any order; [] when there is nothing to add.

    For each INT8 row that failed its accuracy drop on ONNX Runtime, in row order: its k most sensitive nodes back in
    float, k = 1, 2, 4, ..., until a variant passes. The caller measures what this returns and calls again."""
    from edgepick.compress.plan import candidates_for

    for label, row in _failing(rows).items():
        comp = row["compression"]
        if "sensitivity" not in comp and "revert" not in comp:  # ranked once, when this search starts
            notify("compressing", {"key": f"{label}: per-node sensitivity"})
            try:
                with contextlib.redirect_stdout(sys.stderr):  # ORT's calibrators print; stdout is for --json
                    comp["sensitivity"] = _sensitivity(cs, comp["compressor"], comp.get("options", {}))
            except Exception as e:  # recorded on the row that asked for it; the sweep goes on
                comp["revert"] = f"sensitivity analysis failed: {type(e).__name__}: {e}"
                continue
        state, k = next_round(row, rows, len(threads) * len(batches))
        if state == "waiting":
            return []  # one search at a time, as a sequential sweep runs them: this round's rows come first
        if state == "due":
            exclude = [d["node"] for d in comp["sensitivity"][:k]]
            return candidates_for(comp["compressor"], f"{label}-float{k}", dict(comp.get("options", {}),
                                  nodes_to_exclude=exclude), ["onnxruntime"], threads, batches, cs, notify)
    return []


def _failing(rows: list[dict]) -> dict[str, dict]:
    """The first INT8 ORT row per compression label that failed its accuracy drop (not itself a follow-up)."""
    failing: dict[str, dict] = {}
    for r in rows:
        label = (r.get("compression") or {}).get("label", "")
        compressor = (r.get("compression") or {}).get("compressor")
        if (r["runtime"] == "onnxruntime" and compressor in REVERTIBLE and r["status"] == "disagrees"
                and "-float" not in label):
            failing.setdefault(label, r)
    return failing


def next_round(failing_row: dict, rows: list[dict], per_round: int) -> tuple[str, int]:
    """Where the search for `failing_row` stands, from the rows wherever they sit in the list: ("due", k) when round
    k is to be measured next, ("waiting", k) while fewer than `per_round` rows of round k are in, ("done", k) once
    round k passed or every node was tried."""
    label = failing_row["compression"]["label"]
    ranked = failing_row["compression"].get("sensitivity") or []
    k = 1
    while k <= len(ranked):
        measured = [r for r in rows if (r.get("compression") or {}).get("label") == f"{label}-float{k}"]
        if not measured:
            return "due", k
        if len(measured) < per_round:
            return "waiting", k
        if any(r["status"] == "ok" for r in measured):
            return "done", k
        k *= 2
    return "done", k


def _sensitivity(cs, compressor: str, options: dict) -> list[dict]:
    """The per-node ranking in a capped worker; in-process when this is the worker (or a test's own CompressSetup)."""
    if cs.steps is None:
        from edgepick.compress.plan import fp32_onnx

        return sensitivity(fp32_onnx(cs), cs, compressor, options)
    return cs.steps.sensitivity(cs, compressor, options)
