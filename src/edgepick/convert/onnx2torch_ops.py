"""ONNX ops onnx2torch (1.5.15) has no converter for, registered into its registry before it converts, never replacing
one it has: GlobalMaxPool (SE blocks, keyword spotters) here; LSTM, GRU and RNN in convert/onnx2torch_recurrent.py.

Also one graph repair those ops need: onnx2torch returns a multi-output node's whole tuple when one of its outputs is
a graph output (an LSTM's Y_h, a Split's part), so such outputs are passed through an Identity first.
"""

from __future__ import annotations

__all__ = ["register", "graph_outputs_through_identity", "global_max_pool"]


def global_max_pool(x):
    """ONNX GlobalMaxPool: the maximum over every spatial dimension, kept as size-1 dims."""
    import torch

    return torch.amax(x, dim=tuple(range(2, x.dim())), keepdim=True)


def _global_max_pool_converter(node, graph):
    import torch
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    class OnnxGlobalMaxPool(torch.nn.Module):
        def forward(self, x):
            return global_max_pool(x)

    return OperationConverterResult(torch_module=OnnxGlobalMaxPool(), onnx_mapping=onnx_mapping_from_node(node=node))


def _since_versions(op: str) -> list[int]:
    """Every opset version at which ONNX changed `op`: onnx2torch looks converters up by that version."""
    from onnx import defs

    return sorted({s.since_version for s in defs.get_all_schemas_with_history() if s.name == op and s.domain == ""})


def register() -> list[str]:
    """Add edgepick's converters for the ops onnx2torch lacks. Returns the op types added (absent ones only)."""
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription

    from edgepick.convert.onnx2torch_recurrent import RECURRENT_OPS, convert_recurrent

    converters = {"GlobalMaxPool": _global_max_pool_converter, **{op: convert_recurrent for op in RECURRENT_OPS}}
    added = []
    for op, converter in converters.items():
        keys = [OperationDescription(domain="", operation_type=op, version=v) for v in _since_versions(op)]
        if any(k in _CONVERTER_REGISTRY and _CONVERTER_REGISTRY[k] is not converter for k in keys):
            continue  # onnx2torch has its own (a newer release): keep it
        for key in keys:
            _CONVERTER_REGISTRY[key] = converter
        added.append(op)
    return added


def graph_outputs_through_identity(model) -> int:
    """Give each graph output made by a node with several outputs its own Identity node (same output name); return
    how many. onnx2torch would hand back that node's whole tuple as the output."""
    from onnx import helper

    outputs = {o.name for o in model.graph.output}
    ordered, added = [], 0
    for node in model.graph.node:
        ordered.append(node)
        if len(node.output) < 2:
            continue
        for index, name in enumerate(node.output):
            if name in outputs:  # right after its node: the graph stays topologically sorted, as onnx2torch needs
                inner = f"{name}_edgepick_inner"
                node.output[index] = inner
                ordered.append(helper.make_node("Identity", [inner], [name], name=f"{name}_edgepick_identity"))
                added += 1
    if added:
        del model.graph.node[:]
        model.graph.node.extend(ordered)
    return added
