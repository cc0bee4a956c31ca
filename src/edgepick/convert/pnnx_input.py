"""The ONNX graph pnnx is given, with strided slices it would leave to ncnn as `Tensor.slice` (which ncnn lacks).

YOLOX-style detectors (and YOLOv5's Focus) start with x[..., ::2, ::2] and its three offsets: an ONNX Slice with
step 2 on H and W. pnnx maps it to Tensor.slice, which ncnn has no layer for ("pnnx left ops ncnn cannot run:
Tensor.slice"). A step s on the spatial axes of a 4-D tensor is what a depthwise 1x1 Conv with weight 1 and stride s
computes (each output is one input value times 1.0: exact), so such a Slice becomes a step-1 Slice for its offsets and
ends (ncnn's Crop) and that Conv. Other slices are left as they are.

BlazeFace-style blocks (MediaPipe's face and palm detectors, face landmarks, through tf2onnx) zero-pad the channels of
a residual branch: an ONNX Pad whose only non-zero pads are on axis 1. pnnx keeps it as the raw op `Pad`, which ncnn
has no layer for ("layer Pad not exists or registered" at load). The same tensor is the input concatenated on axis
1 with constant blocks of the pad value (pnnx: MemoryData + Concat): exact, as each element is copied.
"""

from __future__ import annotations

__all__ = ["strided_slices_as_convolutions", "channel_pads_as_concats"]


def strided_slices_as_convolutions(model, signature) -> int:
    """Rewrite each Slice of a 4-D tensor with constant bounds, positive steps and a step above 1 only on axes 2 and
    3 (channels known); return how many."""
    from onnx import numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    strided = [n for n in model.graph.node if n.op_type == "Slice" and len(n.input) == 5 and n.input[4] in constants
               and (constants[n.input[4]] > 1).any()]
    if not strided:
        return 0
    shapes = _float_shapes(model, signature)
    if shapes is None:  # a graph ONNX's inference cannot walk: pnnx gets it as it is
        return 0
    nodes, done = [], 0
    for node in model.graph.node:
        replacement = _replacement(node, constants, shapes, model) if node in strided else None
        nodes.extend(replacement or [node])
        done += bool(replacement)
    if done:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return done


def _float_shapes(model, signature) -> dict | None:
    """{name: dims (None where unknown)} of the float32 tensors, inferred with the signature's shapes; None when ONNX's
    inference fails. Only float32: a Conv takes floats, and an integer tensor's ops stay as they are."""
    import onnx

    from edgepick.convert.static import fix_input_shapes

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
    shapes = _float_shapes(model, signature) if pads else None
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


def _replacement(node, constants, shapes, model):
    """[step-1 Slice, depthwise Conv] computing this Slice, or None when it is not of the rewritten kind."""
    import numpy as np
    from onnx import helper, numpy_helper

    shape = shapes.get(node.input[0])
    if not node.input[3] or node.input[3] not in constants or not shape or len(shape) != 4 or not shape[1]:
        return None
    axes = [int(a) % 4 for a in constants[node.input[3]]]
    steps = [int(s) for s in constants[node.input[4]]]
    if any(s < 1 for s in steps) or any(s > 1 and a not in (2, 3) for a, s in zip(axes, steps)):
        return None
    strides = [steps[axes.index(a)] if a in axes else 1 for a in (2, 3)]
    base = f"{node.output[0]}_edgepick"
    ones = numpy_helper.from_array(np.ones((shape[1], 1, 1, 1), np.float32), f"{base}_ones")
    model.graph.initializer.append(ones)
    plain = helper.make_node("Slice", list(node.input[:4]), [f"{base}_offset"], name=f"{base}_slice")
    conv = helper.make_node("Conv", [plain.output[0], ones.name], [node.output[0]], name=f"{base}_stride",
                            kernel_shape=[1, 1], strides=strides, group=shape[1])
    return [plain, conv]
