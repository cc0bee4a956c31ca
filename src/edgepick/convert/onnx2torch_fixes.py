"""Graph repairs around onnx2torch: what real exporters write that onnx2torch or torch.export cannot take as it is.

Before onnx2torch (on the ONNX graph): weights held in Constant nodes instead of initializers (Paddle2ONNX writes
every weight so; onnx2torch's Conv reads its weight from the initializers only: "KeyError: 'conv2d_0.w_0'"), the
measured input shapes written in and inferred (onnx2torch reads BatchNorm's rank from them), Reshape's needless
allowzero.

After onnx2torch (on the torch.fx graph): modules that read a constant tensor's *values* at run time (Reshape's target,
Resize's scales or sizes, Pad's pads, Slice's bounds, Squeeze/Unsqueeze/ReduceSum axes, Split sizes). torch.export
lifts every weight to a symbolic input, so reading its values is a "data-dependent expression" it cannot trace (or,
for many Pads, one it reasons about for minutes). Where that tensor is a constant of the graph, the module is replaced
by the same torch call, or onnx2torch's own static module, with the values written in: the same computation, now
traceable. Then what torch.export.save and load trip on: unused empty weights, shared storage, odd module names.
"""

from __future__ import annotations

__all__ = [
    "constants_to_initializers",
    "infer_shapes",
    "drop_needless_allowzero",
    "fold_constant_nodes",
    "constant_reshapes",
    "constant_resizes",
    "constant_slices",
    "own_storage",
    "traceable",
    "reshape_copying_zeros",
    "constant_pads",
    "static_axes",
    "plain_module_names",
    "drop_unused_constants",
]


def constants_to_initializers(model) -> int:
    """Move Constant nodes that hold a tensor into the graph's initializers (same name, same value); return how many.
    Only the main graph: subgraphs (If/Loop bodies) keep theirs, and onnx2torch does not convert those anyway."""
    import onnx

    kept, moved = [], 0
    for node in model.graph.node:
        value = node.attribute[0] if node.op_type == "Constant" and len(node.attribute) == 1 else None
        if value is None or value.name != "value":
            kept.append(node)
            continue
        tensor = onnx.TensorProto()
        tensor.CopyFrom(value.t)
        tensor.name = node.output[0]
        model.graph.initializer.append(tensor)
        moved += 1
    if moved:
        del model.graph.node[:]
        model.graph.node.extend(kept)
    return moved


def infer_shapes(model, signature) -> bool:
    """Write the run's concrete input shapes (batch left symbolic) into the graph and infer every tensor's shape;
    return whether inference ran. onnx2torch reads ranks from the inferred shapes (BatchNorm: "spatial rank == -2
    is not implemented" when the graph carries none, as Paddle2ONNX's graphs with dynamic widths)."""
    import onnx

    from edgepick.convert.static import fix_input_shapes

    fix_input_shapes(model, signature)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # a graph ONNX's inference cannot walk: onnx2torch gets it as it was
        return False
    model.graph.CopyFrom(inferred.graph)
    return True


def drop_needless_allowzero(model) -> None:
    """Reshape's allowzero=1 (the dynamo exporter writes it) only matters when the target shape holds a 0; onnx2torch
    refuses the attribute, so it is dropped where the target is a constant without zeros: the same computation."""
    from onnx import numpy_helper

    constants = {t.name: t for t in model.graph.initializer}
    constants.update({n.output[0]: a.t for n in model.graph.node if n.op_type == "Constant" for a in n.attribute
                      if a.name == "value"})
    for node in model.graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2 or node.input[1] not in constants:
            continue
        if 0 in numpy_helper.to_array(constants[node.input[1]]).tolist():
            continue
        kept = [a for a in node.attribute if not (a.name == "allowzero" and a.i == 1)]
        del node.attribute[:]
        node.attribute.extend(kept)


def traceable(module) -> dict[str, int]:
    """Every fx-graph repair, in order; how many nodes each changed (kept in the artifact's metadata)."""
    done = {"folded": fold_constant_nodes(module), "reshapes": constant_reshapes(module),
            "resizes": constant_resizes(module), "slices": constant_slices(module), "pads": constant_pads(module),
            "static_axes": static_axes(module)}
    done["prelus"] = prelus_as_where(module)  # ExecuTorch's portable index_put: minutes
    done["unused_dropped"] = drop_unused_constants(module)
    done["renamed"] = plain_module_names(module)
    done["own_storage"] = own_storage(module)
    return done


def drop_unused_constants(module) -> int:
    """Delete weights that no node reads any more (a Resize's empty roi, a folded Range's bounds); return how many.
    torch.export would still save them, and it cannot pack empty tensors ("numel: integer multiplication overflow")."""
    used = {node.target for node in module.graph.nodes if node.op == "get_attr"}
    called = {node.target for node in module.graph.nodes if node.op == "call_module"}
    dropped = 0
    for name, _ in list(module.named_buffers()) + list(module.named_parameters()):
        owner_name, _, attr = name.rpartition(".")
        if name in used or any(c == owner_name or owner_name.startswith(c + ".") for c in called):
            continue  # read by a get_attr node, or a weight of a module the graph calls
        owner = module.get_submodule(owner_name) if owner_name else module
        if attr in owner._buffers or attr in owner._parameters:
            delattr(owner, attr)
            dropped += 1
    return dropped


def plain_module_names(module) -> int:
    """Rename submodules whose names hold characters other than letters, digits and _ . / - ; return how many.
    onnx2torch names each module after its ONNX node, and TFLite tensor names (kept by tf2onnx) hold ';' and ':',
    which torch.export saves in its module-stack metadata but cannot read back ("metadata_split ... got 1")."""
    import re

    graph, renamed, taken = module.graph, 0, {name for name, _ in module.named_children()}
    for node in graph.nodes:
        if node.op != "call_module" or not re.search(r"[^\w./-]", node.target):
            continue
        new = re.sub(r"[^\w/-]", "_", node.target)  # no '.': add_submodule would read it as a path
        while new in taken:
            new += "_"
        module.add_submodule(new, module.get_submodule(node.target))
        taken.add(new)
        node.target = new
        renamed += 1
    if renamed:
        module.delete_all_unused_submodules()
        module.recompile()
    return renamed


def own_storage(module) -> int:
    """Give every weight its own contiguous storage; return how many needed it. onnx2torch makes weights with
    torch.from_numpy over the ONNX file's buffers, where several can share one storage at odd offsets; torch.export.save
    then fails to pack them ("numel: integer multiplication overflow")."""
    import torch

    changed = 0
    with torch.no_grad():
        for tensors in (module.named_parameters(recurse=True), module.named_buffers(recurse=True)):
            for _, tensor in tensors:
                if tensor.numel() and tensor.is_contiguous() and tensor.untyped_storage().nbytes() == tensor.nbytes:
                    continue
                tensor.data = tensor.data.clone(memory_format=torch.contiguous_format)
                changed += 1
    return changed


def fold_constant_nodes(module) -> int:
    """Compute once every node whose inputs are all constants (Range over constant bounds, Shape of a constant, ...),
    and keep its result as a constant of the module; return how many. At export time such a node would read
    constant values as symbolic ones; computed here, its result is simply a constant."""
    import torch

    graph, values, folded = module.graph, {}, 0
    for node in list(graph.nodes):
        if node.op == "get_attr":
            values[node] = _attr(module, node.target)
            continue
        if node.op not in ("call_module", "call_function", "call_method"):
            continue
        inputs = node.all_input_nodes
        if not inputs or any(n not in values for n in inputs):
            continue
        try:
            with torch.no_grad():
                result = _run_node(module, node, values)
        except Exception:  # cannot compute it eagerly: leave it as it is
            continue
        if not isinstance(result, torch.Tensor):
            continue
        name = f"edgepick_folded_{folded}"
        module.register_buffer(name, result.detach().clone())
        with graph.inserting_before(node):
            constant = graph.get_attr(name)
        node.replace_all_uses_with(constant)
        graph.erase_node(node)
        values[constant] = result
        folded += 1
    if folded:
        graph.eliminate_dead_code()
        module.recompile()
    return folded


def _run_node(module, node, values):
    import torch

    args = torch.fx.node.map_arg(node.args, lambda n: values[n])
    kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: values[n])
    if node.op == "call_module":
        return module.get_submodule(node.target)(*args, **kwargs)
    if node.op == "call_function":
        return node.target(*args, **kwargs)
    return getattr(args[0], node.target)(*args[1:], **kwargs)


def constant_slices(module) -> int:
    """Turn onnx2torch's Slice modules with constant starts/ends/axes/steps into plain indexing; return how many.
    onnx2torch's Slice turns those tensors into numpy at run time, which a traced (fake) tensor cannot do."""
    def direct(node):
        from onnx2torch.node_converters.slice import _do_slice, _get_slices

        names = ("input_tensor", "starts", "ends", "axes", "steps")
        given = dict(zip(names, node.args)) | dict(node.kwargs)
        constants = {k: _attr_tensor(module, given.get(k)) for k in names[1:]}
        if any(given.get(k) is not None and constants[k] is None for k in names[1:]):
            return None  # computed at run time
        flip, pos, neg = _get_slices(constants["starts"], constants["ends"], constants["axes"], constants["steps"])
        return _do_slice, (given["input_tensor"], [int(d) for d in flip], _plain(pos), _plain(neg)), {}

    return _replace_modules(module, ("OnnxSlice",), direct)


def constant_pads(module) -> int:
    """Turn onnx2torch's Pad modules with constant pads (and fill value) into torch.nn.functional.pad calls; return how
    many. onnx2torch's Pad calls pads.tolist() at run time; on TFLite-converted graphs (a Pad before every strided
    conv) torch.export then spends minutes reasoning about the unknown sizes."""
    import torch

    def direct(node):
        from onnx2torch.node_converters.pad import _onnx_padding_to_torch, _torch_padding_to_mode_format

        given = dict(zip(("input_tensor", "pads", "constant_value"), node.args)) | dict(node.kwargs)
        pads = _constant_values(module, given.get("pads"))
        fill = given.get("constant_value", 0.0)
        if hasattr(fill, "op"):
            fill = _constant_values(module, fill)
            fill = fill[0] if fill else (None if fill is None else 0.0)
        if pads is None or fill is None:
            return None
        mode = module.get_submodule(node.target).mode
        torch_pads = _torch_padding_to_mode_format(_onnx_padding_to_torch([int(p) for p in pads]), mode)
        return torch.nn.functional.pad, (given["input_tensor"], torch_pads), {
            "mode": mode, "value": float(fill) if mode == "constant" else None}

    return _replace_modules(module, ("OnnxPadDynamic",), direct)


def static_axes(module) -> int:
    """Swap onnx2torch's *DynamicAxes modules (Squeeze, Unsqueeze, ReduceSum; Split's sizes) whose axes are a
    constant tensor for onnx2torch's own static-axes module built with those numbers; return how many."""
    from onnx2torch.node_converters import reduce, split, squeeze, unsqueeze

    def static(node):
        kind = type(module.get_submodule(node.target)).__name__
        old = module.get_submodule(node.target)
        second = node.args[1] if len(node.args) > 1 else next(iter(node.kwargs.values()), None)
        values = _constant_values(module, second)
        if second is not None and values is None:
            return None  # computed at run time
        axes = [int(a) for a in values] if values else None
        if kind == "OnnxSqueezeDynamicAxes":
            return squeeze.OnnxSqueezeStaticAxes(axes=axes)
        if kind == "OnnxUnsqueezeDynamicAxes":
            return unsqueeze.OnnxUnsqueezeStaticAxes(axes=axes) if axes else None
        if kind == "OnnxReduceSumDynamicAxes":
            return reduce.OnnxReduceSumStaticAxes(axes=axes, keepdims=old._keepdims,
                                                   noop_with_empty_axes=old._noop_with_empty_axes)
        return split.OnnxSplit(num_splits=old.num_splits, axis=old.axis, split=axes)  # OnnxSplit13

    kinds = ("OnnxSqueezeDynamicAxes", "OnnxUnsqueezeDynamicAxes", "OnnxReduceSumDynamicAxes", "OnnxSplit13")
    return _replace_modules(module, kinds, static)


def _plain(slices: list) -> list:
    """numpy/tensor integers in slice objects as Python ints, so the traced indexing is static."""
    def num(v):
        return None if v is None else int(v)
    return [slice(num(s.start), num(s.stop), num(s.step)) if isinstance(s, slice) else s for s in slices]


def _attr_tensor(module, arg):
    return _attr(module, arg.target) if getattr(arg, "op", None) == "get_attr" else None


def _attr(module, dotted: str):
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def constant_reshapes(module) -> int:
    """Turn onnx2torch's Reshape modules with a constant target shape into plain reshape calls; return how many.

    onnx2torch's Reshape reads its target from a tensor at run time (torch.any(shape == 0), then its values). With the
    target a constant, the same reshape on those integers (a 0 copying the input's dimension, as ONNX says) traces."""
    def direct(node):
        shape = _constant_values(module, node.args[1] if len(node.args) > 1 else node.kwargs.get("shape"))
        if shape is None:
            return None
        return reshape_copying_zeros, (node.args[0], [int(d) for d in shape]), {}

    return _replace_modules(module, ("OnnxReshape",), direct)


def reshape_copying_zeros(x, dims: list):
    """ONNX Reshape (allowzero=0; onnx2torch refuses allowzero=1): a 0 in the target keeps the input's dimension."""
    import torch

    return torch.reshape(x, [x.shape[i] if d == 0 else d for i, d in enumerate(dims)])


def constant_resizes(module) -> int:
    """Turn onnx2torch's Resize modules whose scales or sizes are constants into torch.nn.functional.interpolate calls
    with those numbers; return how many. onnx2torch's Resize calls .tolist() on them at run time."""
    import torch

    def direct(node):
        resize = module.get_submodule(node.target)
        inner = getattr(resize, "_resize", resize)  # OnnxResizeV10 wraps an OnnxResize
        names = ("input_tensor", "scales") if inner is not resize else ("input_tensor", "roi", "scales", "sizes")
        given = dict(zip(names, node.args)) | dict(node.kwargs)  # onnx2torch passes inputs after a skipped one by name
        roi, scales_arg, sizes_arg = given.get("roi"), given.get("scales"), given.get("sizes")
        if roi is not None and not inner.ignore_roi and _constant_values(module, roi) != []:
            return None  # a roi that matters (or is computed): leave onnx2torch's module, which refuses it clearly
        scales, sizes = _constant_values(module, scales_arg), _constant_values(module, sizes_arg)
        if (scales_arg is not None and scales is None) or (sizes_arg is not None and sizes is None):
            return None  # computed at run time: nothing to write in
        if sizes:  # ONNX gives [n, c, *spatial]; interpolate takes the spatial part (a graph that resized n or c
            # would disagree with its source, which the equivalence check reports)
            size, factor = [int(s) for s in sizes[2:]], None
        elif scales:
            if scales[:2] != [1.0, 1.0]:
                return None
            size, factor = None, [float(s) for s in scales[2:]]
        else:
            return None
        from onnx2torch.node_converters.resize import _onnx_mode_to_torch_mode

        mode = _onnx_mode_to_torch_mode(inner.onnx_mode, len(size or factor))
        return torch.nn.functional.interpolate, (given["input_tensor"],), {
            "size": size, "scale_factor": factor, "mode": mode, "align_corners": inner.align_corners}

    return _replace_modules(module, ("OnnxResize", "OnnxResizeV10"), direct)


def prelus_as_where(module) -> int:
    """Each call of onnx2torch's OnnxPReLU as prelu_where (convert/onnx2torch_prelu.py); an odd call keeps it."""
    from edgepick.convert.onnx2torch_prelu import prelu_where

    def direct(node):
        given = dict(zip(("input_tensor", "slope"), node.args)) | dict(node.kwargs)
        return (prelu_where, (given["input_tensor"], given["slope"])) if set(given) == {"input_tensor", "slope"} else None

    return _replace_modules(module, ("OnnxPReLU",), direct)


def _replace_modules(module, type_names: tuple[str, ...], direct) -> int:
    """For each call of a module of these types, `direct(node)` gives what computes the same: (function, args, kwargs),
    or a module to call on the node's first input; None keeps the module. Returns how many were replaced."""
    graph, changed = module.graph, 0
    for node in list(graph.nodes):
        if node.op != "call_module" or type(module.get_submodule(node.target)).__name__ not in type_names:
            continue
        try:
            replacement = direct(node)
        except Exception:  # an odd module: keep onnx2torch's own, which fails with its own message if it must
            replacement = None
        if replacement is None:
            continue
        with graph.inserting_before(node):
            if isinstance(replacement, tuple):
                call = graph.call_function(*replacement)
            else:
                name = f"edgepick_replaced_{changed}"
                while hasattr(module, name):
                    name += "_"
                module.add_submodule(name, replacement)
                call = graph.call_module(name, (node.args[0],))
        node.replace_all_uses_with(call)
        graph.erase_node(node)
        changed += 1
    if changed:
        graph.eliminate_dead_code()
        module.recompile()
    return changed


def _constant_values(module, arg) -> list | None:
    """The values of a get_attr tensor argument as a Python list; [] for an empty tensor; None when not a constant."""
    tensor = _attr_tensor(module, arg)
    return None if tensor is None else tensor.flatten().tolist()
