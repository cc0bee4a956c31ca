"""Do a candidate's outputs compute the same thing as the reference's, on the same inputs?"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass
class Tolerance:
    """FP32 against FP32: differences come only from reordered arithmetic and fused kernels.

    A quantized source model gets another one (for_quantized_source): its outputs are on a grid of the output's
    quantization step, and a converted copy may round a value to the neighbouring step."""

    atol: float = 1e-4
    rtol: float = 1e-3  # relative to the largest reference magnitude of that output
    min_cosine: float = 0.9999
    min_top1_agreement: float = 0.99
    atol_per_output: list[float] | None = None  # overrides atol per output (a quantized source: steps of its scale)
    source: str | None = None  # why this tolerance, shown in reasons (None: the FP32 default)

    def to_dict(self) -> dict:
        return asdict(self)

    def atol_of(self, output: int) -> float:
        if self.atol_per_output and output < len(self.atol_per_output):
            return self.atol_per_output[output]
        return self.atol


QUANT_STEPS = 3  # a quantized source's outputs may differ by this many steps of the output scale


def compare(reference: list[np.ndarray], candidate: list[np.ndarray], tol: Tolerance) -> dict:
    """Figures over all outputs, and a verdict with the first reason that failed.

    Per float output, as numpy.allclose judges: the max abs error against an absolute floor plus a share of the
    output's magnitude. Cosine is judged only above the floor: two outputs that differ by less than the floor agree,
    whatever the cosine of two near-zero vectors says (a probability map that is ~0 almost everywhere). Integer and
    boolean outputs (indices, masks) are judged on the share of values that differ. A different output count or
    shape is `structural`: no precision or accuracy rule can pass it."""
    if len(reference) != len(candidate):
        return _structural(f"{len(candidate)} outputs, reference has {len(reference)}")
    max_abs = max_rel = 0.0
    cosines: list[float] = []
    why = None
    top1 = _top1_agreement(reference[0], candidate[0]) if reference else None
    for i, (ref, got) in enumerate(zip(reference, candidate)):
        ref, got = np.asarray(ref), np.asarray(got)
        if ref.shape != got.shape:
            if ref.size != got.size:
                return _structural(f"output {i} has shape {got.shape}, reference {ref.shape}")
            got = got.reshape(ref.shape)
        if _is_discrete(ref):
            why = why or _discrete_why(ref, got, i, tol)
            continue
        floor, bound = bounds(ref, tol, i)
        ref, got = ref.astype(np.float64), got.astype(np.float64)
        diff = np.abs(ref - got)
        err = float(diff.max()) if diff.size else 0.0
        max_abs = max(max_abs, err)
        max_rel = max(max_rel, float((diff / np.maximum(np.abs(ref), 1e-6)).max()) if diff.size else 0.0)
        cos = _cosine(ref.ravel(), got.ravel())
        cosines.append(cos)
        if why is None and err > bound:
            why = f"max abs error {err:.3g} > {bound:.3g}{f' ({tol.source})' if tol.source else ''} on output {i}"
        if why is None and err > floor and cos < tol.min_cosine:
            why = f"cosine {cos:.5f} < {tol.min_cosine} on output {i} (max abs error {err:.3g} > floor {floor:.3g})"
        if i == 0 and top1 is not None and why is None and top1 < tol.min_top1_agreement:
            why = f"top-1 agreement {top1:.3f} < {tol.min_top1_agreement}"
    if why is not None and top1 is not None and not why.startswith("top-1"):
        why += f"; top-1 agreement {top1:.3f}"  # the task-level view beside the raw error
    return {"agrees": why is None, "why": why, "max_abs_err": max_abs, "max_rel_err": max_rel,
            "cosine": min(cosines) if cosines else None, "top1_agreement": top1}


# An output computed in float differs from another computation of it by a few units in the last place of its dtype,
# relative to its magnitude: the floor never goes below that, whatever --atol says.
FLOOR_ULPS = 16


def bounds(ref: np.ndarray, tol: Tolerance, output: int) -> tuple[float, float]:
    """(absolute floor, max abs error allowed) for one float output: the floor is the tolerance's atol, raised to
    FLOOR_ULPS units in the last place of the output's dtype at its magnitude; the bound adds rtol of the magnitude."""
    scale = float(np.abs(ref.astype(np.float64)).max()) if ref.size else 0.0
    eps = float(np.finfo(ref.dtype).eps) if np.issubdtype(ref.dtype, np.floating) else 0.0
    floor = max(tol.atol_of(output), FLOOR_ULPS * max(eps, float(np.finfo(np.float32).eps)) * scale)
    return floor, floor + tol.rtol * scale


def _structural(why: str) -> dict:
    return {"agrees": False, "why": why, "structural": True, "max_abs_err": None, "max_rel_err": None,
            "cosine": None, "top1_agreement": None}


def _is_discrete(ref: np.ndarray) -> bool:
    return np.issubdtype(ref.dtype, np.integer) or ref.dtype == np.bool_


def _discrete_why(ref: np.ndarray, got: np.ndarray, i: int, tol: Tolerance) -> str | None:
    """Indices, ids and masks: equal or not; a share of them may flip where near-ties round the other way."""
    share = float((ref != got).mean()) if ref.size else 0.0
    allowed = 1.0 - tol.min_top1_agreement
    return None if share <= allowed else f"{share:.1%} of output {i}'s integer values differ (> {allowed:.1%})"


def weak_outputs(reference: list[np.ndarray], tol: Tolerance) -> list[str]:
    """Float outputs the equivalence check sees little of on these inputs: all within the absolute floor, the same
    for every sample, or within the floor in all but 1% of their values. One phrase per such output."""
    weak = []
    for i, ref in enumerate(np.asarray(r) for r in reference):
        if _is_discrete(ref) or not ref.size:
            continue
        floor, bound = bounds(ref, tol, i)
        ref = ref.astype(np.float64)
        above = float((np.abs(ref) > floor).mean())
        if above == 0.0:
            weak.append(f"output {i} within the floor {floor:.2g} everywhere (max |ref| {np.abs(ref).max():.2g})")
        elif len(ref) > 1 and float(np.ptp(ref, axis=0).max()) <= bound:
            weak.append(f"output {i} the same for every sample")
        elif above < 0.01:
            weak.append(f"output {i} within the floor {floor:.2g} in {1 - above:.1%} of its values")
    return weak


def _top1_agreement(ref, got) -> float | None:
    """Share of samples whose argmax agrees, for an N x classes first output (a classifier's logits or scores)."""
    ref, got = np.asarray(ref), np.asarray(got)
    if ref.ndim != 2 or ref.shape[1] < 2 or ref.shape != got.shape:
        return None
    return float((ref.argmax(1) == got.argmax(1)).mean())


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def accuracy_top1(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(axis=-1) == labels).mean())


def for_quantized_source(artifact, base: Tolerance, reference: list[np.ndarray]) -> Tolerance:
    """The tolerance a source model's own precision allows: `base` for a float model; for a quantized one
    (an INT8 TFLite, an ONNX QDQ/QOperator graph) QUANT_STEPS steps of each output's quantization scale, read from the
    model (or, where an output is dequantized inside the graph, one 8-bit step of its observed range)."""
    scales = output_scales(artifact)
    if scales is None:
        return base
    atols, described = [], []
    for i, ref in enumerate(reference):
        scale = scales[i] if i < len(scales) else None
        if not scale:  # no scale on this output: one 8-bit step of the range the reference spans
            finite = np.asarray(ref, dtype=np.float64)
            scale = float(finite.max() - finite.min()) / 255 if finite.size else 0.0
            described.append(f"~{scale:.3g} from its range")
        else:
            described.append(f"{scale:.3g}")
        atols.append(QUANT_STEPS * scale + base.atol)
    kind = _kind(artifact)
    source = f"{kind} source: {QUANT_STEPS} steps of the output scale {', '.join(described)}"
    return Tolerance(atol=max(atols, default=base.atol), rtol=base.rtol, min_cosine=min(base.min_cosine, 0.999),
                     min_top1_agreement=min(base.min_top1_agreement, 0.95), atol_per_output=atols, source=source)


def _kind(artifact) -> str:
    if artifact.format == "tflite":
        try:
            return tflite_quantization(artifact.path) or "int8"
        except (ImportError, ValueError, RuntimeError):
            return "int8"
    return "int8"


_QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "QLinearAdd", "MatMulInteger",
              "ConvInteger", "DynamicQuantizeLinear"}


def output_scales(artifact) -> list[float | None] | None:
    """Per output, its quantization scale (None where the model does not say); None for a float model."""
    try:
        if artifact.format == "onnx":
            return _onnx_output_scales(artifact.path)
        if artifact.format == "tflite":
            return _tflite_output_scales(artifact.path)
    except ImportError:  # the format's own package is missing: the reference could not run either
        return None
    return None


def _onnx_output_scales(path: str) -> list[float | None] | None:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(path, load_external_data=False).graph
    if not any(n.op_type in _QUANT_OPS for n in graph.node):
        return None
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for n in graph.node:  # scales may also be Constant nodes
        if n.op_type == "Constant" and n.attribute and n.attribute[0].t.dims is not None:
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    producer = {o: n for n in graph.node for o in n.output}
    scales = []
    for out in graph.output:
        node = producer.get(out.name)
        scale = consts.get(node.input[1]) if node is not None and node.op_type == "DequantizeLinear" else None
        scales.append(float(np.max(scale)) if scale is not None and np.size(scale) else None)
    return scales


def _tflite_output_scales(path: str) -> list[float | None] | None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    tensors = {d["index"]: d for d in interpreter.get_tensor_details()}
    if not any(np.dtype(d["dtype"]) in (np.int8, np.uint8) and _has_scale(d) for d in tensors.values()):
        return None
    producer = {o: op for op in interpreter._get_ops_details() for o in op["outputs"]}  # noqa: SLF001
    scales = []
    for out in interpreter.get_output_details():
        scale = out["quantization"][0]
        op = producer.get(out["index"])
        if not scale and op is not None and op["op_name"] == "DEQUANTIZE":  # float output of an int8 graph
            scale = tensors[op["inputs"][0]]["quantization"][0]
        scales.append(float(scale) if scale else None)
    return scales


def _has_scale(detail: dict) -> bool:
    """A quantized tensor: a per-tensor scale, or per-channel scales (a dynamic-range model's int8 weights carry only
    those: its 'quantization' pair is (0.0, 0))."""
    scales = (detail.get("quantization_parameters") or {}).get("scales")
    return bool(detail["quantization"][0]) or (scales is not None and np.size(scales) > 0)


def tflite_quantization(path: str) -> str | None:
    """How a .tflite is quantized, for the tolerance's reason: 'int8 weights, float activations (dynamic range)'
    where only constant tensors are int8 (LiteRT then quantizes activations per call in its hybrid kernels, which
    a float copy does not), 'int8' where activations are too; None for a float model."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path)
    quantized = {d["index"] for d in interpreter.get_tensor_details()
                 if np.dtype(d["dtype"]) in (np.int8, np.uint8) and _has_scale(d)}
    if not quantized:
        return None
    produced = {o for op in interpreter._get_ops_details() for o in op["outputs"]}  # noqa: SLF001
    inputs = {d["index"] for d in interpreter.get_input_details()}
    activations = quantized & (produced | inputs)
    return "int8" if activations else "int8 weights, float activations (dynamic range)"
