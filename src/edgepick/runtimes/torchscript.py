"""TorchScript (torch.jit.trace), loaded with torch.jit.load from the file edgepick's converter wrote."""

from __future__ import annotations

from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session
from edgepick.runtimes.torch_eager import _TorchSession, pin_torch_precision, set_torch_threads


class TorchScript(Runtime):
    name = "torchscript"
    formats = ("torchscript",)
    import_name = "torch"
    distribution = "torch"
    extra = "torch"
    thread_setting = "torch.set_num_threads (interop 1)"
    description = "TorchScript module traced with torch.jit.trace and frozen, run by the TorchScript interpreter"

    def load(self, artifact: Artifact, threads: int) -> Session:
        import torch

        set_torch_threads(threads)
        module = torch.jit.load(artifact.path, map_location="cpu")
        module.eval()
        return _TorchSession(module, artifact.meta.get("input_names"), "fp32", pin_torch_precision("fp32"))
