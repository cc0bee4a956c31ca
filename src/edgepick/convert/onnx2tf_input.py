"""The ONNX graph onnx2tf is given, and the layout flags it needs, so that real models convert at all.

Three things stop onnx2tf on models exported by other tools (seen on the reach corpus, benchmarks/corpus.toml):
- Dynamic input dimensions. Paddle2ONNX writes the batch as dim_value -1 ("Dimension -1 must be >= 0") and leaves
  H and W symbolic; onnx2tf then guesses layouts and sizes wrong (a SavedModel failing at load with "Incompatible
  shapes: [1,10,20,96] vs. [1,20,20,96]"). The concrete shapes being measured are written into the private copy of
  every 3-5-D input, the batch staying symbolic where the model's is dynamic, or 1 for .tflite. 0-2-D inputs (token
  ids, a mask) keep their symbolic length: fixed, onnx2tf folds a GRU encoder's shape arithmetic into a constant
  output it then refuses ("Output tensors of a Functional model must be the output of a TensorFlow Layer"). A
  negative dim_value is never valid and becomes a symbol.
- Node names TensorFlow refuses as scope names: Paddle2ONNX names nodes "Softmax@0" ("'Softmax@0' is not a valid
  scope name"). They are rewritten to the characters TensorFlow accepts; node names carry no meaning in ONNX.
- Constant per-channel DequantizeLinear (tf2onnx writes one per int8 weight of a dynamic-range TFLite): onnx2tf
  applies the scales along the wrong axis once it has moved the weight to TensorFlow's layout (fer's emotion net:
  max abs error 0.86, top-1 0.0). They are folded into float32 initializers, (q - zero_point) * scale, the exact
  values ONNX Runtime computes.
- LSTM, GRU and RNN: onnx2tf fails on them ("Can't convert Python sequence with mixed types to Tensor"); they are
  unrolled into plain ops first (convert/recurrent_unroll.py) where the sequence length is known.
- Inputs that are not images. onnx2tf treats every 3-5-D input as channels-first and transposes it to channels-last
  unless told otherwise: right for an image or a Conv1d signal (-k keeps the input channels-first outside and lets
  onnx2tf transpose inside), wrong for a recurrent state [layers, batch, hidden] or a [batch, tokens, features]
  sequence, whose shape must stay as it is (-kat). 0-2-D inputs are never transposed by onnx2tf.
"""

from __future__ import annotations

import re
from pathlib import Path

from edgepick.convert.onnx2tf_integer import fold_for_integer_inputs
from edgepick.convert.recurrent_unroll import unroll_recurrent
from edgepick.core.artifact import Artifact

# Ops whose input really is channels-first: an input of rank 3 feeding one of them is a signal, kept with -k.
_CHANNELS_FIRST_OPS = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "BatchNormalization",
                       "InstanceNormalization", "GlobalAveragePool", "GlobalMaxPool", "Resize", "Upsample"}
_SCOPE_CHAR = re.compile(r"[^A-Za-z0-9_.\\/>-]")  # TensorFlow's scope-name pattern, less its first-character rule
_LARGE = 2**31 - 1  # protobuf's limit: larger graphs keep their weights in an external data file


def layout_flags(model, ranks: dict[str, int]) -> list[str]:
    """onnx2tf's -k (keep channels-first, transpose inside) and -kat (keep the shape as it is) for the inputs."""
    consumers: dict[str, set[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, set()).add(node.op_type)
    keep_nchw, keep_shape = [], []
    for name, rank in ranks.items():
        if rank in (4, 5) or (rank == 3 and consumers.get(name, set()) & _CHANNELS_FIRST_OPS):
            keep_nchw.append(name)
        elif rank == 3:
            keep_shape.append(name)
    return (["-k", *keep_nchw] if keep_nchw else []) + (["-kat", *keep_shape] if keep_shape else [])


def scope_safe_node_names(model) -> int:
    """Rename nodes whose names TensorFlow refuses as scope names (unique, same order). Returns how many changed."""
    seen: set[str] = set()
    changed = 0
    for index, node in enumerate(model.graph.node):
        name = _SCOPE_CHAR.sub("_", node.name) or f"{node.op_type}_{index}"
        if name[0] in "_.-/\\>":
            name = f"n{name}"
        while name in seen:
            name += "_"
        seen.add(name)
        if name != node.name:
            node.name = name
            changed += 1
    return changed


def prepare(artifact: Artifact, signature, folder: Path, static_batch: int | None,
            fix_dims: bool = True) -> tuple[str, list[str], dict]:
    """Write onnx2tf's own copy of the graph into folder (onnx2tf overwrites the file it is given, which may be the
    user's model). fix_dims=False leaves the model's dynamic dims symbolic (negative ones still become symbols).
    Returns (its path, the layout flags, what was changed, for the artifact's record)."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    model = onnx.load(artifact.path)  # with any external data, so the copy stands alone
    folded = fold_for_integer_inputs(model, signature, static_batch) if fix_dims else None
    model = folded or model  # token ids, constant Expands, at a fixed batch: shape arithmetic folded (onnx2tf_integer)
    shapes = fix_shapes(model, signature if fix_dims else None, static_batch)
    renamed = scope_safe_node_names(model)
    dequantized = fold_constant_dequantize(model)
    unrolled = unroll_recurrent(model, signature)  # onnx2tf fails on LSTM/GRU ("mixed types", "NoneType")
    ranks = {i.name: len(i.type.tensor_type.shape.dim) for i in model.graph.input if i.type.HasField("tensor_type")}
    flags = layout_flags(model, ranks)
    target = folder / Path(artifact.path).name
    if model.ByteSize() > _LARGE:
        onnx.save(model, str(target), save_as_external_data=True, location=target.name + ".data")
    else:
        onnx.save(model, str(target))
    record = {"input_shapes": shapes or "as in the model", "nodes_renamed": renamed, "layout_flags": flags}
    record |= {"weights_dequantized": dequantized} if dequantized else {}
    record |= {"shapes_folded": True} if folded is not None else {}
    return str(target), flags, record | ({"recurrent_unrolled": unrolled} if unrolled else {})


def fix_shapes(model, signature, static_batch: int | None) -> dict[str, list]:
    """Write the concrete shapes of the 3-5-D inputs into the graph; a dynamic batch stays the symbol 'batch' (or
    becomes static_batch); a negative dim_value anywhere becomes a symbol. Returns the shapes written."""
    specs = {t.name: t for t in signature.inputs} if signature is not None else {}
    written = {}
    for graph_input in model.graph.input:
        if not graph_input.type.HasField("tensor_type"):
            continue
        dims = graph_input.type.tensor_type.shape.dim
        spec = specs.get(graph_input.name)
        concrete = spec is not None and spec.resolved and len(spec.shape) == len(dims) and len(dims) >= 3
        for i, dim in enumerate(dims):
            batch = i == 0 and (spec is None or spec.batch_dynamic) and (dim.HasField("dim_param") or dim.dim_value <= 0)
            if batch and static_batch is not None:
                dim.Clear()
                dim.dim_value = static_batch
            elif batch or (dim.HasField("dim_value") and dim.dim_value <= 0):
                dim.Clear()
                dim.dim_param = "batch" if i == 0 else f"{graph_input.name}_dim{i}"
            elif concrete:
                dim.Clear()
                dim.dim_value = int(spec.shape[i])
        if concrete:
            written[graph_input.name] = [d.dim_param or d.dim_value for d in dims]
    if written:
        del model.graph.value_info[:]  # shapes inferred for the dynamic graph would contradict the fixed ones
    return written


def fold_constant_dequantize(model) -> int:
    """Replace each DequantizeLinear of initializers (per-tensor or per-axis, not blocked) by the float initializer it
    computes. Returns how many were folded."""
    import numpy as np
    from onnx import numpy_helper

    initializers = {t.name: t for t in model.graph.initializer}
    kept, folded = [], 0
    for node in model.graph.node:
        attrs = {a.name: a for a in node.attribute}
        constant = all(name in initializers for name in node.input if name)
        blocked = "block_size" in attrs and attrs["block_size"].i > 0
        if node.op_type != "DequantizeLinear" or not constant or blocked:
            kept.append(node)
            continue
        arrays = [numpy_helper.to_array(initializers[name]) for name in node.input if name]
        quantized, scale = arrays[0].astype(np.float32), arrays[1]
        zero = arrays[2].astype(np.float32) if len(arrays) > 2 else np.zeros_like(scale, dtype=np.float32)
        if scale.ndim == 1 and quantized.ndim > 1:  # per-axis: broadcast along `axis` (default 1)
            axis = attrs["axis"].i if "axis" in attrs else 1
            shape = [1] * quantized.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        value = ((quantized - zero) * scale.astype(np.float32)).astype(scale.dtype)
        model.graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
        folded += 1
    if folded:
        del model.graph.node[:]
        model.graph.node.extend(kept)
    return folded
