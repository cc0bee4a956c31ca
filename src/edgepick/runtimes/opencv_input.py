"""The ONNX graph OpenCV DNN is given, with its BOOL constants stored as int32 and cast back to BOOL in the graph.

Transformer exports (PyTorch's dynamo exporter, opset 18+) keep the attention mask's pattern as a BOOL initializer
(`ge`, [1, 1, S, 1]) that Expand/Where turn into the mask. OpenCV's importer cannot read a BOOL tensor at all
("Unsupported data type: BOOL in function 'getMatFromTensor'"), so the whole model fails to load. The same values as
an int32 tensor followed by `Cast(to=BOOL)` are the same BOOL tensor by ONNX's definition (0 -> False, else True), so
the graph computes exactly what it did. int32, not uint8: OpenCV 4.14's Cast from uint8 to BOOL feeds a Where as if
every element were True (tests/runtimes/test_opencv_input.py checks the int32 form against ONNX Runtime).

The same exports guard each softmax with Where(IsNaN(p), 0, p); OpenCV has no IsNaN layer ("Can't create layer ...
of type IsNaN"). IsNaN(x) is Not(Equal(x, x)) exactly: NaN is the one value unequal to itself under IEEE 754.
"""

from __future__ import annotations

__all__ = ["bool_constants_as_casts", "isnan_as_not_equal"]


def bool_constants_as_casts(model) -> int:
    """Rewrite every BOOL initializer and BOOL Constant node of the main graph in place; return how many."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    casts, done = [], 0
    for tensor in [t for t in model.graph.initializer if t.data_type == TensorProto.BOOL]:
        name = tensor.name
        stored = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.int32), f"{name}_edgepick_int32")
        model.graph.initializer.remove(tensor)
        model.graph.initializer.append(stored)
        casts.append(helper.make_node("Cast", [stored.name], [name], name=f"{name}_edgepick_cast", to=TensorProto.BOOL))
        done += 1
    nodes = []
    for node in model.graph.node:
        tensor = _bool_constant(node)
        if tensor is None:
            nodes.append(node)
            continue
        out = node.output[0]
        values = numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.int32))
        nodes.append(helper.make_node("Constant", [], [f"{out}_edgepick_int32"], name=f"{out}_edgepick_const", value=values))
        nodes.append(helper.make_node("Cast", [f"{out}_edgepick_int32"], [out], name=f"{out}_edgepick_cast", to=TensorProto.BOOL))
        done += 1
    if done:
        del model.graph.node[:]
        model.graph.node.extend(casts + nodes)  # the casts of initializers first: nodes stay in topological order
    return done


def _bool_constant(node):
    """The BOOL tensor a Constant node holds in its `value` attribute, else None."""
    from onnx import TensorProto

    if node.op_type != "Constant" or node.domain not in ("", "ai.onnx"):
        return None
    for attr in node.attribute:
        if attr.name == "value" and attr.t.data_type == TensorProto.BOOL:
            return attr.t
    return None


def isnan_as_not_equal(model) -> int:
    """Replace every IsNaN node of the main graph by Not(Equal(x, x)) in place; return how many."""
    from onnx import helper

    nodes, done = [], 0
    for node in model.graph.node:
        if node.op_type != "IsNaN" or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        same = f"{node.output[0]}_edgepick_equal"
        nodes.append(helper.make_node("Equal", [node.input[0], node.input[0]], [same], name=same))
        nodes.append(helper.make_node("Not", [same], [node.output[0]], name=f"{node.output[0]}_edgepick_not"))
        done += 1
    if done:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return done


def prepared_for_opencv(path: str, shapes: dict[str, list[int]]) -> tuple[bytes, dict]:
    """(the graph OpenCV gets, serialised; what was done): every input dim fixed to the measured shape, shape
    arithmetic folded by onnxslim, then the two rewrites above. OpenCV's importer resolves Shape only on static
    inputs ("!isDynamicShape in function 'parseShape'"), so the batch is fixed too: one copy per measured shape, as
    ONNX Runtime's free-dimension overrides are. The result is checked against the given graph with ONNX Runtime
    before OpenCV sees it; raises PreparationChanged when it computes something else."""
    import onnx
    import onnxslim

    model = onnx.load(path)
    fixed = _fix_all_dims(model, shapes)
    model = onnxslim.slim(model)
    record = {"input_shapes": fixed, "by": f"onnxslim {onnxslim.__version__}",
              "bool_constants_cast": bool_constants_as_casts(model), "isnan_rewritten": isnan_as_not_equal(model)}
    data = model.SerializeToString()
    record["check"] = _check_same(path, data, fixed)
    return data, record


class PreparationChanged(Exception):
    """The prepared graph does not compute what the given one does (on ONNX Runtime, same inputs)."""


def _fix_all_dims(model, shapes: dict[str, list[int]]) -> dict[str, list[int]]:
    from edgepick.runtimes.base import shapes_by_name

    weights = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    wanted = shapes_by_name([i.name for i in inputs], shapes)
    for graph_input in inputs:
        dims, shape = graph_input.type.tensor_type.shape.dim, wanted.get(graph_input.name)
        if shape is None or len(shape) != len(dims):
            raise ValueError(f"no measured shape of rank {len(dims)} for input {graph_input.name}")
        for dim, value in zip(dims, shape):
            dim.Clear()
            dim.dim_value = int(value)
    del model.graph.value_info[:]  # shapes inferred for the dynamic graph would contradict the fixed ones
    return {name: [int(v) for v in shape] for name, shape in wanted.items()}


def _check_same(original: str, prepared: bytes, shapes: dict[str, list[int]]) -> str:
    """Run both graphs on ONNX Runtime with the same seeded inputs (integers 0: always valid ids and indices)."""
    import numpy as np
    import onnxruntime as ort

    def session(model):
        return ort.InferenceSession(model, providers=["CPUExecutionProvider"])

    before, after = session(original), session(prepared)
    rng = np.random.default_rng(0)
    feeds = {}
    for spec in before.get_inputs():
        dtype = _NUMPY.get(spec.type, np.float32)
        shape = shapes.get(spec.name) or [1 if not isinstance(d, int) else d for d in spec.shape]
        feeds[spec.name] = (rng.standard_normal(shape).astype(dtype) if np.issubdtype(dtype, np.floating)
                            else np.zeros(shape, dtype))
    for i, (a, b) in enumerate(zip(before.run(None, feeds), after.run(None, feeds))):
        scale = float(np.abs(a).max()) if a.size and np.issubdtype(a.dtype, np.floating) else 1.0
        if a.shape != b.shape or not np.allclose(a, b, rtol=1e-5, atol=1e-6 * max(scale, 1.0), equal_nan=True):
            raise PreparationChanged(f"output {i}: shape {b.shape} vs {a.shape}, max abs error "
                                     f"{float(np.abs(a.astype(np.float64) - b).max()) if a.shape == b.shape else 'n/a'}")
    return f"same outputs as the given graph on ONNX Runtime ({', '.join(f'{k} {v}' for k, v in shapes.items())})"


_NUMPY = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
          "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
          "tensor(bool)": "bool"}
