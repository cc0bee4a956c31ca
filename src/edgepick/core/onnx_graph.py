"""ONNX graph rewrites both sides of the conversion boundary use: shapes fixed and inferred, channel pads made exact
Concats. Here, below convert/ and runtimes/, because a converter (pnnx's input, convert/pnnx_input.py) and a
runtime's own import path (MXNet's, runtimes/mxnet.py) apply the same rewrite.

BlazeFace-style blocks (MediaPipe's face and palm detectors, face landmarks, through tf2onnx) zero-pad the channels of
a residual branch: an ONNX Pad whose only non-zero pads are on axis 1. pnnx keeps it as the raw op `Pad`, which ncnn
has no layer for, and MXNet's Pad pads only the spatial axes. The same tensor is the input concatenated on axis 1
with constant blocks of the pad value: exact, as each element is copied.
"""

from __future__ import annotations

__all__ = ["fix_input_shapes", "float_shapes", "channel_pads_as_concats"]

def fix_input_shapes(model, signature) -> dict[str, list]:
    """Write the concrete input shapes into the graph (a dynamic batch stays the symbol 'batch'); return them."""
    specs = {t.name: t for t in signature.inputs}
    fixed = {}
    for graph_input in model.graph.input:
        spec = specs.get(graph_input.name)
        if spec is None or not spec.resolved or not graph_input.type.HasField("tensor_type"):
            continue
        dims = graph_input.type.tensor_type.shape.dim
        if len(dims) != len(spec.shape):
            continue
        for i, (dim, value) in enumerate(zip(dims, spec.shape)):
            if i == 0 and spec.batch_dynamic:
                dim.Clear()
                dim.dim_param = "batch"
            else:
                dim.Clear()
                dim.dim_value = int(value)
        fixed[graph_input.name] = ["batch" if i == 0 and spec.batch_dynamic else int(v) for i, v in enumerate(spec.shape)]
    del model.graph.value_info[:]  # shapes inferred for the dynamic graph would contradict the fixed ones
    return fixed


def float_shapes(model, signature) -> dict | None:
    """{name: dims (None where unknown)} of the float32 tensors, inferred with the signature's shapes; None when ONNX's
    inference fails. Only float32: a Conv takes floats, and an integer tensor's ops stay as they are."""
    import onnx


    probe = type(model)()
    probe.CopyFrom(model)
    if signature is not None:  # None: the graph's own input shapes (MXNet's import path has no signature)
        fix_input_shapes(probe, signature)
    try:
        inferred = onnx.shape_inference.infer_shapes(probe)
    except Exception:
        return None
    float32 = onnx.TensorProto.FLOAT
    return {v.name: [d.dim_value or None for d in v.type.tensor_type.shape.dim]
            for v in list(inferred.graph.value_info) + list(inferred.graph.input) if v.type.tensor_type.elem_type == float32}


def channel_pads_as_concats(model, signature=None) -> int:
    """Rewrite each constant-mode Pad of a 4-D float tensor of known shape whose pads are constants, non-zero only
    on axis 1, into a Concat with constant blocks; return how many. MXNet's Pad refuses these too ("expects padding
    on the first two axes to be zero"), so its import path uses it as well."""
    from onnx import numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    pads = [n for n in model.graph.node if n.op_type == "Pad" and len(n.input) > 1 and n.input[1] in constants]
    shapes = float_shapes(model, signature) if pads else None
    if not shapes:
        return 0
    nodes, done = [], 0
    for node in model.graph.node:
        replacement = _concat_for_pad(node, constants, shapes, model) if node in pads else None
        nodes.append(replacement or node)
        done += bool(replacement)
    if done:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return done


def _concat_for_pad(node, constants, shapes, model):
    """A Concat computing this channel Pad, or None when it is not of that kind."""
    import numpy as np
    from onnx import helper, numpy_helper

    mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "constant")
    shape = shapes.get(node.input[0])
    pads = [int(p) for p in constants[node.input[1]]]
    value_name = node.input[2] if len(node.input) > 2 else ""
    if (mode != "constant" or len(node.input) > 3 or not shape or len(shape) != 4 or None in shape or len(pads) != 8
            or any(p for i, p in enumerate(pads) if i not in (1, 5)) or min(pads) < 0 or (value_name and value_name not in constants)):
        return None
    value = float(constants[value_name].reshape(-1)[0]) if value_name and constants[value_name].size else 0.0
    parts, base = [], f"{node.output[0]}_edgepick"
    for where, count in (("before", pads[1]), ("after", pads[5])):
        if count:
            block = numpy_helper.from_array(np.full([shape[0], count, *shape[2:]], value, np.float32), f"{base}_{where}")
            model.graph.initializer.append(block)
            parts.append(block.name)
    parts.insert(1 if pads[1] else 0, node.input[0])
    return helper.make_node("Concat", parts, [node.output[0]], name=f"{base}_concat", axis=1)
