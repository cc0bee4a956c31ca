"""Graphs with integer inputs (token ids, masks) folded to static shapes before onnx2tf builds a fixed-batch model.

On such graphs the shape arithmetic reads the ids' shape back (Shape -> Gather -> Concat -> Expand for position ids,
a Reshape's target); onnx2tf then builds a graph that converts but computes something else (a tiny transformer
encoder with position embeddings: max abs error 1.06 against ONNX Runtime), or fails ("Dimensions must be equal").
Where the model is converted at a fixed batch anyway (the .tflite edge, the SavedModel's static retry), every input
dim is written in and onnxslim folds the arithmetic into constants: the same computation at those shapes, which
onnx2tf converts right (8.9e-08 on that encoder). Not done when folding would leave a graph output constant (an output
computed from shapes alone), which onnx2tf refuses ("Output tensors of a Functional model must be the output of a
TensorFlow Layer"); integer 0-2-D inputs otherwise keep their symbolic length (convert/onnx2tf_input.py).

The same folding serves graphs of any input type that Expand a constant to a shape read from an input (the class
token and the attention mask of Hugging Face ViT and wav2vec 2.0 exports: Expand(cls_token, Concat(Shape(x), ...))):
onnx2tf computes `constant * tf.ones(shape)` with numpy on the left, which fails on a symbolic shape ("You are
passing KerasTensor ... to a TF API that does not allow registering custom dispatchers") even where the input's
shape is written in, as onnx2tf keeps Shape as an op. Folded, those Expands are constants.
"""

from __future__ import annotations

__all__ = ["fold_for_integer_inputs"]


def fold_for_integer_inputs(model, signature, static_batch: int | None):
    """The folded copy of `model`, or None (no integer input nor constant Expand, no fixed batch, onnxslim absent or
    refusing, or an output left constant)."""
    import numpy as np

    if static_batch is None or signature is None:
        return None
    specs = {t.name: t for t in signature.inputs}
    integer = any(np.dtype(specs[i.name].dtype).kind in "iub" for i in model.graph.input if i.name in specs)
    if not integer and not expands_a_constant_to_a_computed_shape(model.graph):
        return None
    try:
        import onnxslim
    except ImportError:
        return None
    fixed = type(model)()
    fixed.CopyFrom(model)
    for graph_input in fixed.graph.input:
        spec = specs.get(graph_input.name)
        dims = graph_input.type.tensor_type.shape.dim
        if spec is None or not spec.resolved or len(dims) != len(spec.shape):
            continue
        for i, dim in enumerate(dims):
            dim.Clear()
            dim.dim_value = static_batch if i == 0 and spec.batch_dynamic else int(spec.shape[i])
    del fixed.graph.value_info[:]
    try:
        folded = onnxslim.slim(fixed)
    except Exception:  # onnxslim cannot fold this graph: onnx2tf gets it as before
        return None
    constant = _constant_values(folded.graph)
    return None if any(o.name in constant for o in folded.graph.output) else folded


def _constant_values(graph) -> set[str]:
    """Initializers, and every value computed from constants alone (a Constant node, an Identity of a weight...)."""
    constant = {t.name for t in graph.initializer} - {i.name for i in graph.input}
    for node in graph.node:  # in topological order
        if all(name in constant for name in node.input if name):
            constant.update(node.output)
    return constant


def expands_a_constant_to_a_computed_shape(graph) -> bool:
    """Whether an Expand's data is a constant while its shape is computed from the inputs (what onnx2tf fails on)."""
    constant = _constant_values(graph)
    return any(n.op_type == "Expand" and n.input[0] in constant and n.input[1] not in constant for n in graph.node)
