"""ONNX -> PyTorch with onnx2torch, saved as a torch.export program (.pt2): the PyTorch family's way in for ONNX input.

onnx2torch rebuilds the graph as a torch.fx GraphModule of ordinary torch modules; torch.export then captures it
(batch dynamic when the graph allows, else fixed to 1, said in the artifact) into a .pt2 file, which torch-eager,
torch.compile, TorchScript (traced from it) and ExecuTorch (lowered from it) all load without pickle.

torchvision: onnx2torch imports it for two ops only (NonMaxSuppression, RoiAlign). PyPI's torchvision wheels are built
against the CUDA build of torch and do not import beside the CPU-only torch edgepick pins ("operator torchvision::nms
does not exist"), so when torchvision cannot be imported those two converters are left out and a graph that uses them
fails with onnx2torch's own "not implemented" error, with this reason beside it.
"""

from __future__ import annotations

import importlib
import re
import sys
import traceback
import types
import warnings

from edgepick.artifact import Artifact
from edgepick.convert.base import ConvertContext, Converter
from edgepick.runtimes.torch_eager import example_tensors

MAX_OPSET = 17  # the newest opset whose op versions onnx2torch 1.5 registers converters for
_NEEDS_TORCHVISION = ("onnx2torch.node_converters.nms", "onnx2torch.node_converters.roialign")
_WHY_NO_TORCHVISION = ("onnx2torch's NonMaxSuppression and RoiAlign converters need torchvision, which does not "
                       "import beside this CPU-only torch")


def _torchvision_works() -> bool:
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent (ImportError), or a CUDA build beside the CPU torch (RuntimeError)
        return False
    return True


def import_onnx2torch():
    """onnx2torch's convert(); without a working torchvision, its two torchvision-backed op converters are left out."""
    if "onnx2torch" not in sys.modules and not _torchvision_works():
        for name in _NEEDS_TORCHVISION:
            # Empty modules: those two ops are then simply unknown to onnx2torch; every other converter registers.
            sys.modules.setdefault(name, types.ModuleType(name, _WHY_NO_TORCHVISION))
    return importlib.import_module("onnx2torch").convert


def _within_known_opsets(path: str):
    """(ModelProto, note). onnx2torch registers each op by the versions it knows (Reshape up to 14, ...); a graph from a
    newer exporter (the dynamo exporter writes opset 18+) is moved down to opset 17 by ONNX's own version converter."""
    import onnx
    from onnx import version_converter

    model = onnx.load(path)
    _drop_needless_allowzero(model)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset <= MAX_OPSET:
        return model, ""
    try:
        return version_converter.convert_version(model, MAX_OPSET), f" (after converting opset {opset} to {MAX_OPSET})"
    except Exception as e:  # no down-converter for some op: try the graph as it is
        return model, f" (opset {opset}; ONNX could not convert it to {MAX_OPSET}: {str(e).strip().splitlines()[-1][:120]})"


def _drop_needless_allowzero(model) -> None:
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


def _constant_reshapes(module) -> int:
    """Turn onnx2torch's Reshape modules with a constant target shape into plain torch.reshape calls; return how many.

    onnx2torch's Reshape reads its target from a tensor at run time (torch.any(shape == 0), then its values), which
    torch.export cannot trace (the weights are symbolic there: "data-dependent expression"). With the target a
    constant without zeros, torch.reshape on those integers is the same computation."""
    import torch

    graph, changed = module.graph, 0
    for node in list(graph.nodes):
        if node.op != "call_module" or type(module.get_submodule(node.target)).__name__ != "OnnxReshape":
            continue
        shape_node = node.args[1] if len(node.args) > 1 else None
        if getattr(shape_node, "op", None) != "get_attr":
            continue
        dims = [int(d) for d in _attr(module, shape_node.target).tolist()]
        if 0 in dims:
            continue
        with graph.inserting_before(node):
            direct = graph.call_function(torch.reshape, (node.args[0], tuple(dims)))
        node.replace_all_uses_with(direct)
        graph.erase_node(node)
        changed += 1
    if changed:
        graph.eliminate_dead_code()
        module.recompile()
    return changed


def _attr(module, dotted: str):
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def _why_export_failed(e: Exception) -> str:
    """The export error's first line, and which onnx2torch op module it came from when the traceback says."""
    text = str(e).strip()
    first = text.splitlines()[0][:200] if text else type(e).__name__
    op = re.search(r"onnx2torch/node_converters/(\w+)\.py", text + "".join(traceback.format_tb(e.__traceback__)))
    return f"{first} (in onnx2torch's {op.group(1)} op)" if op else first


class OnnxToTorch(Converter):
    name = "onnx2torch"
    sources = ("onnx",)
    target = "torch-exported"
    import_name = "onnx2torch"
    distribution = "onnx2torch"
    extra = "onnx2torch"

    @classmethod
    def install_hint(cls) -> str:
        return "pip install --no-deps onnx2torch==1.5.15  (its torchvision requirement needs the CUDA build of torch)"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import torch

        convert = import_onnx2torch()
        model, opset_note = _within_known_opsets(artifact.path)
        try:
            module = convert(model).eval()
        except NotImplementedError as e:
            text = str(e).strip().splitlines()[0] if str(e).strip() else "an op is not implemented"
            missing_vision = any(op in text for op in ("NonMaxSuppression", "RoiAlign")) and not _torchvision_works()
            raise RuntimeError(f"onnx2torch: {text}{opset_note}{f' ({_WHY_NO_TORCHVISION})' if missing_vision else ''}") from e
        constant_reshapes = _constant_reshapes(module)
        sig = ctx.signature
        static_batch = None
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # export's deprecation chatter says nothing about this model
            try:
                batch = torch.export.Dim("batch", min=1, max=4096)
                dynamic = tuple({0: batch} if t.batch_dynamic else {} for t in sig.inputs)
                program = torch.export.export(module, example_tensors(sig, 2), dynamic_shapes=dynamic, strict=False)
            except Exception:  # shape arithmetic baked in by the ONNX graph: a batch-1 program is still useful
                try:
                    program = torch.export.export(module, example_tensors(sig, 1), strict=False)
                except Exception as e:
                    raise RuntimeError(f"torch.export cannot capture the onnx2torch module: {_why_export_failed(e)}") from e
                static_batch = 1
        out = ctx.out_dir / "model.pt2"
        torch.export.save(program, str(out))
        return Artifact("torch-exported", str(out), {"input_names": sig.names, "converter": "onnx2torch",
                                                     "static_batch": static_batch, "constant_reshapes": constant_reshapes})
