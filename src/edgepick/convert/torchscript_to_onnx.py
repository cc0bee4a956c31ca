"""TorchScript archive (torch.jit.save) -> ONNX with PyTorch's TorchScript-based exporter (dynamo=False).

The dynamo exporter needs an nn.Module it can trace with torch.export; a ScriptModule is already a compiled graph,
which only the TorchScript-based exporter reads. From the ONNX file a TorchScript input reaches every other runtime.
"""

from __future__ import annotations

import warnings

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core.artifact import Artifact
from edgepick.inputs.torch_dims import example_tensors

OPSET = 17  # what onnxruntime, OpenVINO, TVM and onnx2torch all read


class TorchScriptToOnnx(Converter):
    name = "torchscript-to-onnx"
    sources = ("torchscript",)
    target = "onnx"
    import_name = "onnx"  # the TorchScript-based exporter checks its graph with the onnx package
    distribution = "onnx"
    extra = "onnx"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import torch

        module = torch.jit.load(artifact.path, map_location="cpu")
        sig = ctx.signature
        out = ctx.out_dir / "model.onnx"
        axes = {t.name: {0: "batch"} for t in sig.inputs if t.batch_dynamic}
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice says nothing about this model
            torch.onnx.export(module, example_tensors(sig, 1), str(out), input_names=sig.names, dynamic_axes=axes,
                              opset_version=OPSET, dynamo=False)
        return Artifact("onnx", str(out), {"exporter": f"torch.onnx TorchScript-based (torch {torch.__version__})"})
