"""PyTorch -> .tflite with litert-torch (Google's PyTorch-to-LiteRT converter, via torch.export): the direct edge the
framework's owners maintain, preferred over the ONNX detour (onnx2tf). In this environment when installed here, else
in its own venv (convert/litert_torch_env.py).

It converts the very nn.Module the reference ran when the sweep has it in memory. A dynamic batch is asked for first;
when torch.export or the converter refuses it, the .tflite is exported for batch 1, and LiteRT then reports other
batch sizes as unsupported-shape rows instead of silently measuring something else.
"""

from __future__ import annotations

import importlib.util
import logging

from edgepick.convert.base import ConvertContext, Converter
from edgepick.convert.litert_torch_env import ENV, convert_in_env
from edgepick.core import envs
from edgepick.core.artifact import Artifact
from edgepick.inputs.torch_dims import batch_dynamic_shapes, example_tensors
from edgepick.runtimes.torch_eager import module_to_convert


class TorchToLitert(Converter):
    name = "torch-to-litert"
    typical_s = 14  # litert-torch in its own venv: import, export, lowering
    sources = ("torch-factory", "torch-exported", "torch-pickle")
    target = "tflite"
    import_name = "litert_torch"
    distribution = "litert-torch"
    extra = "litert-torch"
    env = ENV  # where litert-torch is not in this environment (its pins conflict with it): its own venv

    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec(cls.import_name) is not None or envs.is_ready(cls.env)

    @classmethod
    def install_hint(cls) -> str:
        return f"edgepick env create {cls.env}  ({envs.unavailable_reason(cls.env) or 'ready'})"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        module = module_to_convert(artifact, ctx.module)
        if artifact.format != "torch-exported":  # an exported program's module is in inference form and refuses .eval()
            module = module.eval()
        if importlib.util.find_spec(self.import_name) is None:
            return Artifact("tflite", str(ctx.out_dir / "model.tflite"), convert_in_env(module, ctx.signature, ctx.out_dir))
        import litert_torch

        logging.getLogger("litert_torch").setLevel(logging.ERROR)
        sig = ctx.signature
        example = example_tensors(sig, 2)
        out = ctx.out_dir / "model.tflite"
        static_batch = None
        try:
            dynamic = batch_dynamic_shapes(t.batch_dynamic for t in sig.inputs)
            edge_model = litert_torch.convert(module, example, dynamic_shapes=dynamic)
        except Exception:  # a graph with a baked-in batch (view(1, -1), ...): a static batch-1 model is still useful
            example = example_tensors(sig, 1)
            edge_model = litert_torch.convert(module, example)
            static_batch = 1
        edge_model.export(str(out))
        return Artifact("tflite", str(out), {"converter": "litert-torch", "static_batch": static_batch,
                                             "input_names": sig.names})
