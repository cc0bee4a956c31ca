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

from edgepick.convert.base import ConvertContext, Converter
from edgepick.convert.onnx2tf_input import fold_constant_dequantize
from edgepick.convert.onnx2torch_fixes import (
    constants_to_initializers,
    drop_needless_allowzero,
    infer_shapes,
    traceable,
)
from edgepick.convert.onnx2torch_ops import graph_outputs_through_identity
from edgepick.core.artifact import Artifact
from edgepick.core.errors import first_line
from edgepick.inputs.torch_dims import batch_dynamic_shapes, example_tensors

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
    convert = importlib.import_module("onnx2torch").convert
    _register_newer_versions()
    from edgepick.convert import onnx2torch_ops

    onnx2torch_ops.register()  # GlobalMaxPool, LSTM, GRU, RNN: ops onnx2torch has no converter for
    return convert


# (op, version onnx2torch has, newer version that only widened the input types: ONNX's changelog, bfloat16 added)
_SAME_SEMANTICS = (("GreaterOrEqual", 12, 16), ("LessOrEqual", 12, 16))


def _register_newer_versions() -> None:
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription

    for op, known, newer in _SAME_SEMANTICS:
        old = OperationDescription(domain="", operation_type=op, version=known)
        new = OperationDescription(domain="", operation_type=op, version=newer)
        if old in _CONVERTER_REGISTRY and new not in _CONVERTER_REGISTRY:
            _CONVERTER_REGISTRY[new] = _CONVERTER_REGISTRY[old]


def _within_known_opsets(path: str):
    """(ModelProto, note). onnx2torch registers each op by the versions it knows (Reshape up to 14, ...); a graph from a
    newer exporter (the dynamo exporter writes opset 18+) is moved down to opset 17 by ONNX's own version converter."""
    import onnx
    from onnx import version_converter

    model = onnx.load(path)
    constants_to_initializers(model)
    fold_constant_dequantize(model)  # onnx2torch has no DequantizeLinear: int8 weights as the floats they stand for
    drop_needless_allowzero(model)
    graph_outputs_through_identity(model)  # an LSTM's Y_h as a graph output: onnx2torch would return its whole tuple
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None or opset <= MAX_OPSET:
        return model, ""
    try:
        return version_converter.convert_version(model, MAX_OPSET), f" (after converting opset {opset} to {MAX_OPSET})"
    except Exception as e:  # no down-converter for some op: try the graph as it is
        return model, f" (opset {opset}; ONNX could not convert it to {MAX_OPSET}: {str(e).strip().splitlines()[-1][:120]})"


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

        model, opset_note = _within_known_opsets(artifact.path)
        sig = ctx.signature
        infer_shapes(model, sig)
        try:
            program, static_batch, repairs = _convert_and_export(model, sig, opset_note)
        except Exception as first:
            # Shape arithmetic on the symbolic batch (Shape -> Concat -> Reshape) reads tensor values at run time,
            # which torch.export cannot trace, and leaves onnx2torch without ranks or constant targets. With every
            # dimension fixed, onnxslim folds that arithmetic away: a batch-1 program is what most deployments run.
            fixed = _all_dims_fixed(model, sig)
            if fixed is None:
                raise
            drop_needless_allowzero(fixed)
            try:
                program, static_batch, repairs = _convert_and_export(fixed, sig, opset_note, dynamic_batch=False)
            except Exception as second:
                raise RuntimeError(f"{first_line(first, 300)} (and with every dimension fixed: {first_line(second, 300)})") from second
            repairs["all_dims_fixed_by_onnxslim"] = True
        out = ctx.out_dir / "model.pt2"
        torch.export.save(program, str(out))
        return Artifact("torch-exported", str(out), {"input_names": sig.names, "converter": "onnx2torch",
                                                     "static_batch": static_batch, "graph_repairs": repairs})


def _convert_and_export(model, sig, opset_note: str, dynamic_batch: bool = True):
    module = _to_torch(model, opset_note)
    repairs = traceable(module)
    program, static_batch = _export(module, sig, dynamic_batch)
    return program, static_batch, repairs


class _ExportFailed(Exception):
    def __init__(self, why: str):
        super().__init__(f"torch.export cannot capture the onnx2torch module: {why}")
        self.why = why


def _to_torch(model, opset_note: str):
    convert = import_onnx2torch()
    try:
        return convert(model).eval()
    except NotImplementedError as e:
        text = first_line(e, empty="an op is not implemented")
        missing_vision = any(op in text for op in ("NonMaxSuppression", "RoiAlign")) and not _torchvision_works()
        raise RuntimeError(f"onnx2torch: {text}{opset_note}{f' ({_WHY_NO_TORCHVISION})' if missing_vision else ''}") from e


def _export(module, sig, dynamic_batch: bool = True):
    """(program, static_batch): batch dynamic where the graph allows, else fixed to 1 (said in the artifact)."""
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # export's deprecation chatter says nothing about this model
        if dynamic_batch and any(t.batch_dynamic for t in sig.inputs):
            try:
                dynamic = batch_dynamic_shapes(t.batch_dynamic for t in sig.inputs)
                return torch.export.export(module, example_tensors(sig, 2), dynamic_shapes=dynamic, strict=False), None
            except Exception:  # shape arithmetic baked in by the ONNX graph: a batch-1 program is still useful
                pass
        try:
            return torch.export.export(module, example_tensors(sig, 1), strict=False), 1
        except Exception as e:
            raise _ExportFailed(_why_export_failed(e)) from e


def _all_dims_fixed(model, sig):
    """The graph with every input dimension fixed (batch 1), simplified by onnxslim; None without onnxslim or when
    onnxslim cannot simplify it."""
    import dataclasses

    try:
        import onnxslim
    except ImportError:
        return None
    from edgepick.convert.static import fix_input_shapes

    batch_one = dataclasses.replace(sig, inputs=[
        dataclasses.replace(t, batch_dynamic=False, shape=[1, *t.shape[1:]] if t.shape else t.shape)
        for t in sig.inputs])
    fixed = type(model)()
    fixed.CopyFrom(model)
    fix_input_shapes(fixed, batch_one)
    try:
        return onnxslim.slim(fixed)
    except Exception:  # onnxslim cannot fold this graph: the first export error stands
        return None
