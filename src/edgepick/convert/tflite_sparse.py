"""Sparse-weight .tflite files made dense, so tf2onnx can read them.

TFLite's converter (Optimize.EXPERIMENTAL_SPARSITY, after pruning) stores mostly-zero constant tensors in its
sparsity format: only the nonzero values, with per-dimension metadata (dense dims, or CSR segments and indices,
optionally in blocks), and a DENSIFY op that expands them at run time for kernels without sparse support. tf2onnx
reads every constant as a dense buffer ("cannot reshape array of size 77 into shape (8,1,1,32)"). Here each sparse
tensor is expanded to its dense values (TFLite's own FormatConverter::SparseToDense walk, in Python), its sparsity
metadata dropped, and each DENSIFY op removed, its output made the dense constant: the same numbers the interpreter
computes, in a copy; the user's file is untouched. The artifact says the source was sparse.
"""

from __future__ import annotations

from pathlib import Path

_DENSIFY = 124  # BuiltinOperator.DENSIFY
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8", 10: "float64"}


def _schema():
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:  # LiteRT ships the same generated schema
        from ai_edge_litert import schema_py_generated as schema
    return schema


def densify_file(source: str, target: Path) -> int:
    """Write a dense copy of `source` to `target` when it holds sparse tensors; return how many were densified (0:
    nothing written)."""
    import flatbuffers

    schema = _schema()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(Path(source).read_bytes(), 0))
    count = 0
    for graph in model.subgraphs or []:
        for tensor in graph.tensors or []:
            if tensor.sparsity is not None and tensor.buffer and model.buffers[tensor.buffer].data is not None:
                model.buffers[tensor.buffer].data = _dense_values(model.buffers[tensor.buffer].data, tensor).tobytes()
                tensor.sparsity = None
                count += 1
        _drop_densify_ops(model, graph)
    if count:
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        target.write_bytes(bytes(builder.Output()))
    return count


def _drop_densify_ops(model, graph) -> None:
    """A DENSIFY of a (now dense) constant: its output becomes that constant, and the op goes."""
    kept = []
    for op in graph.operators or []:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) == _DENSIFY:
            source, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
            if source.buffer and source.sparsity is None:
                out.buffer = source.buffer
                continue
        kept.append(op)
    graph.operators = kept


def _dense_values(data, tensor):
    """The dense array a sparse tensor stands for, in its dense shape."""
    import numpy as np

    dtype = np.dtype(_DTYPES[tensor.type])
    values = np.frombuffer(bytes(bytearray(data)), dtype=dtype)
    shape = [int(d) for d in tensor.shape]
    dense = np.zeros(int(np.prod(shape)), dtype=dtype)
    sparsity = tensor.sparsity
    order = [int(d) for d in sparsity.traversalOrder]
    blocks = [int(d) for d in (sparsity.blockMap if sparsity.blockMap is not None else [])]
    levels = [_level(m) for m in sparsity.dimMetadata]
    block_sizes = [levels[order.index(len(shape) + j)][1] for j in range(len(blocks))]
    position = [0]

    def place(indices):
        original = [0] * len(shape)
        for level in range(len(shape)):
            original[order[level]] = indices[level]
        for level in range(len(shape), len(indices)):
            block = order[level] - len(shape)
            original[blocks[block]] = original[blocks[block]] * block_sizes[block] + indices[level]
        dense[int(np.ravel_multi_index(original, shape))] = values[position[0]]
        position[0] += 1

    def walk(level, previous, indices):
        if level == len(levels):
            place(indices)
            return
        dense_level, size, segments, ids = levels[level]
        if dense_level:
            for i in range(size):
                walk(level + 1, previous * size + i, [*indices, i])
        else:
            for i in range(segments[previous], segments[previous + 1]):
                walk(level + 1, i, [*indices, int(ids[i])])

    walk(0, 0, [])
    return dense.reshape(shape)


def _level(metadata) -> tuple[bool, int, list, list]:
    """(dense?, dense size, CSR segments, CSR indices) of one traversal level."""
    if metadata.format == 0:  # DimensionType.DENSE
        return True, int(metadata.denseSize), [], []
    return False, 0, [int(v) for v in metadata.arraySegments.values], [int(v) for v in metadata.arrayIndices.values]
