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

from edgepick.core.onnx_graph import channel_pads_as_concats, float_shapes

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
    shapes = float_shapes(model, signature)
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
