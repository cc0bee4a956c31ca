"""Reshape targets computed at run time, written in as constants where they do not depend on the data.

Exporters compute a Reshape's target from Shape(x) (the batch read back, then Gather/Concat/Cast/Div...). With a
dynamic batch, constant folding (onnxslim) cannot turn that into a constant, and TVM's Relax frontend refuses a
target it cannot follow symbolically ("Reshape requires the input new shape to be Shape. However, the given one is
relax.TensorType", seen behind a Cast on an int32-input classifier). ONNX's own data propagation stops at such ops,
so the targets are computed instead: ONNX Runtime runs the graph on the signature's example inputs at batch 1 and 2
(other values each time) and reports each computed target and its Reshape's input shape. A dim equal in both runs is a constant; one that
follows the input's dim at the same position (the batch) becomes 0, which ONNX Reshape reads as "copy that dim";
a single other varying dim becomes -1. Any other target is left alone. The shape arithmetic left unused is removed.
The graph computes what it did (tests/convert/test_shape_fold.py checks it against ONNX Runtime).
"""

from __future__ import annotations

__all__ = ["fold_reshape_targets", "drop_dead_nodes"]


def fold_reshape_targets(model, signature) -> int:
    """Give each Reshape whose target is computed a constant one where the runs allow; return how many."""
    import numpy as np
    from onnx import numpy_helper

    constants = {t.name for t in model.graph.initializer}
    computed = [n for n in model.graph.node if n.op_type == "Reshape" and len(n.input) > 1 and n.input[1] not in constants
                and not any(a.name == "allowzero" and a.i for a in n.attribute)]
    runs = _runs(model, signature, computed) if computed else None
    if not runs:
        return 0
    folded = 0
    for index, node in enumerate(computed):
        target = _constant_target([(run[2 * index], run[2 * index + 1]) for run in runs])
        if target is None:
            continue
        name = f"{node.output[0]}_edgepick_target"
        model.graph.initializer.append(numpy_helper.from_array(np.array(target, np.int64), name))
        node.input[1] = name
        folded += 1
    if folded:
        drop_dead_nodes(model)
    return folded


def _runs(model, signature, reshapes) -> list | None:
    """For batch 1 and 2 (1 twice without a dynamic batch), other values each time: [target, input shape] per
    Reshape, flattened; None when ONNX Runtime cannot run the graph."""
    from onnx import TensorProto, helper

    probe = type(model)()
    probe.CopyFrom(model)
    for i, node in enumerate(reshapes):
        probe.graph.node.append(helper.make_node("Shape", [node.input[0]], [f"edgepick_probe_shape_{i}"]))
        probe.graph.output.extend([helper.make_tensor_value_info(node.input[1], TensorProto.INT64, None),
                                   helper.make_tensor_value_info(f"edgepick_probe_shape_{i}", TensorProto.INT64, None)])
    names = [o.name for o in probe.graph.output][len(model.graph.output):]
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        batches = (1, 2) if any(t.batch_dynamic for t in signature.inputs) else (1, 1)
        # different values in each run too: a target read from the data, not the shapes, does not look constant
        return [[a.tolist() for a in session.run(names, signature.example_inputs(b, seed=seed))]
                for seed, b in enumerate(batches, 1)]
    except Exception:  # a graph ONNX Runtime cannot run here: leave its targets as they are
        return None


def _constant_target(seen: list[tuple[list, list]]) -> list[int] | None:
    """From (target, input shape) in each run: the constant target, or None when some dim is neither constant, the
    input's own dim at that position, nor the one dim left to -1."""
    first, rank = seen[0][0], len(seen[0][0])
    if any(len(target) != rank for target, _ in seen):
        return None
    target = []
    for i in range(rank):
        values = {t[i] for t, _ in seen}
        if len(values) == 1:
            target.append(first[i])
        elif all(i < len(shape) and t[i] == shape[i] for t, shape in seen):
            target.append(0)
        else:
            target.append(None)
    if target.count(None) == 1 and -1 not in target:
        target[target.index(None)] = -1
    return None if None in target else target


def drop_dead_nodes(model) -> int:
    """Remove nodes none of whose outputs is read (by a node, a subgraph or as a graph output), then initializers
    nothing reads; return how many nodes."""
    removed = 0
    while True:
        used = _names_read(model.graph) | {o.name for o in model.graph.output}
        kept = [n for n in model.graph.node if any(o in used for o in n.output)]
        if len(kept) == len(model.graph.node):
            break
        removed += len(model.graph.node) - len(kept)
        del model.graph.node[:]
        model.graph.node.extend(kept)
    inputs = {i.name for i in model.graph.input}
    unread = [t for t in model.graph.initializer if t.name not in used and t.name not in inputs]
    for tensor in unread:
        model.graph.initializer.remove(tensor)
    return removed


def _names_read(graph) -> set[str]:
    """Every value name a node of this graph or of its subgraphs (If/Loop bodies) reads."""
    from onnx import AttributeProto

    names = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                names |= _names_read(attribute.g)
            elif attribute.type == AttributeProto.GRAPHS:
                for sub in attribute.graphs:
                    names |= _names_read(sub)
    return names
