"""Roofline arithmetic from an ONNX graph: MACs and bytes moved per op, per op family and in total.

Conventions (stated in every output): 1 MAC = 2 FLOPs (one multiply, one add). Bytes moved by an op = the bytes
of its inputs (weights included) plus its outputs, each read or written once: a lower bound on DRAM traffic
that ignores caching between ops, which is the usual roofline simplification. Shapes come from
`onnx.shape_inference` with the graph inputs pinned to batch 1, so the counts are per item.
"""

from __future__ import annotations

import math
from pathlib import Path

from edgepick.measure.opvocab import FAMILIES, family, is_depthwise

FLOPS_PER_MAC = 2
CONVENTION = "1 MAC = 2 FLOPs; bytes = each op's inputs (weights included) + outputs, read/written once"


def _elem_size(elem_type: int) -> int:
    from onnx import helper

    try:
        return helper.tensor_dtype_to_np_dtype(elem_type).itemsize
    except (KeyError, TypeError, ValueError):
        return 4


def _shapes(model) -> dict[str, tuple[list[int], int]]:
    """name -> (shape with unknown dims as 1, element size) for every value the graph knows a shape of."""
    from onnx import numpy_helper

    graph = model.graph
    out: dict[str, tuple[list[int], int]] = {}
    for vi in [*graph.input, *graph.value_info, *graph.output]:
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in tt.shape.dim]
        out[vi.name] = (dims, _elem_size(tt.elem_type))
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        out[init.name] = (list(arr.shape), arr.dtype.itemsize)
    return out


def _pin_batch(model) -> None:
    """Make every symbolic graph-input dim 1 so shape inference propagates concrete shapes (per-item counts)."""
    for vi in model.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            if not d.HasField("dim_value") or d.dim_value <= 0:
                d.dim_value = 1


def _attr(node, name: str, default):
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _numel(shape: list[int]) -> int:
    return math.prod(shape) if shape else 1


def node_cost(node, shapes: dict) -> dict:
    """MACs, bytes and family of one node. Shapes missing from inference count as 0 bytes (said in 'unknown')."""
    ins = [shapes.get(n) for n in node.input if n]
    outs = [shapes.get(n) for n in node.output if n]
    moved = sum(_numel(s) * size for s, size in (x for x in [*ins, *outs] if x is not None))
    unknown = any(s is None for s in [*ins, *outs])
    macs = 0
    depthwise = False
    op = node.op_type
    if op in ("Conv", "ConvInteger", "QLinearConv") and outs and outs[0] is not None:
        x_idx, w_idx = (0, 3) if op == "QLinearConv" else (0, 1)
        x, w = shapes.get(node.input[x_idx]), shapes.get(node.input[w_idx])
        if w is not None and x is not None:
            group = int(_attr(node, "group", 1))
            out_shape = outs[0][0]
            # each output element needs C_in/group x kH x kW multiply-adds; w is (C_out, C_in/group, k...)
            macs = _numel(out_shape) * _numel(w[0][1:])
            depthwise = is_depthwise(x[0][1] if len(x[0]) > 1 else None, w[0], group)
    elif op in ("MatMul", "MatMulInteger", "QLinearMatMul", "Gemm") and outs and outs[0] is not None:
        a_idx, b_idx = (0, 3) if op == "QLinearMatMul" else (0, 1)
        a = shapes.get(node.input[a_idx])
        if a is not None and a[0]:  # a 0-d operand has no K
            k = a[0][-2] if op == "Gemm" and _attr(node, "transA", 0) else a[0][-1]
            macs = _numel(outs[0][0]) * k  # every output element is a K-long dot product
    fam = family(op, depthwise=depthwise)
    return {"name": node.name or op, "op_type": op, "family": fam, "macs": int(macs), "bytes": int(moved),
            "unknown_shapes": unknown}


def graph_cost(onnx_path: str | Path) -> dict:
    """Per-item MACs/FLOPs/bytes: totals, per family (with arithmetic intensity), and the per-node list."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=True)
    _pin_batch(model)
    try:
        model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception:  # an op shape inference does not know: keep going with what it could infer
        pass
    shapes = _shapes(model)
    nodes = [node_cost(n, shapes) for n in model.graph.node]
    return summarize_nodes(nodes)


def summarize_nodes(nodes: list[dict]) -> dict:
    per_family: dict[str, dict] = {}
    for n in nodes:
        fam = per_family.setdefault(n["family"], {"macs": 0, "bytes": 0, "ops": 0})
        fam["macs"] += n["macs"]
        fam["bytes"] += n["bytes"]
        fam["ops"] += 1
    for fam in per_family.values():
        fam["flops"] = FLOPS_PER_MAC * fam["macs"]
        fam["intensity_flop_per_byte"] = fam["flops"] / fam["bytes"] if fam["bytes"] else 0.0
    macs = sum(n["macs"] for n in nodes)
    moved = sum(n["bytes"] for n in nodes)
    ordered = {f: per_family[f] for f in FAMILIES if f in per_family}
    return {"convention": CONVENTION, "macs": macs, "flops": FLOPS_PER_MAC * macs, "bytes": moved,
            "intensity_flop_per_byte": FLOPS_PER_MAC * macs / moved if moved else 0.0,
            "families": ordered, "nodes": nodes}


def memory_bound_families(cost: dict, peak_gflops: float, peak_gbps: float) -> list[str]:
    """Families whose arithmetic intensity is below the machine balance (peak FLOP/s / peak bytes/s)."""
    if not peak_gbps:
        return []
    balance = peak_gflops / peak_gbps
    return [f for f, v in cost["families"].items() if v["flops"] > 0 and v["intensity_flop_per_byte"] < balance]


def row_efficiency(row: dict, cost: dict, peak: dict) -> dict | None:
    """Achieved GFLOP/s of one measured row (per-item FLOPs x batch / p50) and its % of the measured peak."""
    lat = row.get("latency_ms") or {}
    if row.get("status") != "ok" or not lat.get("p50") or not cost.get("flops"):
        return None
    achieved = cost["flops"] * row["batch"] / (lat["p50"] / 1e3) / 1e9
    int8 = "int8" in str(row.get("precision", "")).lower()
    ceiling = peak.get("int8_gops") if int8 else peak.get("fp32_gflops")
    bw = peak.get("bandwidth_gbps")
    # the roofline bound: min(compute peak, bandwidth x intensity) for the whole graph
    attainable = min(ceiling, bw * cost["intensity_flop_per_byte"]) if ceiling and bw else ceiling
    return {
        "achieved_gflops": achieved,
        "peak_kind": "int8 GOP/s" if int8 else "fp32 GFLOP/s",
        "peak": ceiling,
        "pct_of_peak": 100 * achieved / ceiling if ceiling else None,
        "attainable_gflops": attainable,
        "pct_of_roofline": 100 * achieved / attainable if attainable else None,
        "threads": peak.get("threads"),
        "memory_bound_families": memory_bound_families(cost, ceiling or 0.0, bw or 0.0),
    }
