"""ExecuTorch: a .pte program (torch.export, lowered to the XNNPACK delegate) run by ExecuTorch's own runtime."""

from __future__ import annotations

import numpy as np

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session


class _EtSession(Session):
    def __init__(self, method, input_names, static_batch, details=None):
        self.details = details
        self.method = method
        self.input_names = input_names
        self.static_batch = static_batch

    def prepare(self, inputs):
        import torch

        names = self.input_names or list(inputs)
        first = inputs[names[0]]
        if self.static_batch is not None and first.shape[0] != self.static_batch:
            raise errors.CandidateFailure(errors.UNSUPPORTED_SHAPE, f"this .pte was exported with a fixed batch of "
                                          f"{self.static_batch} (torch.export refused a dynamic batch); got {first.shape[0]}")
        return [torch.from_numpy(np.asarray(inputs[n], order="C")) for n in names]

    def run(self, prepared):
        return self.method.execute(prepared)

    def to_numpy(self, outputs):
        return [o.numpy() if hasattr(o, "numpy") else np.asarray(o) for o in outputs]


class ExecuTorch(Runtime):
    name = "executorch"
    formats = ("executorch-pte",)
    import_name = "executorch"
    distribution = "executorch"
    extra = "executorch"
    thread_setting = "portable_lib._unsafe_reset_threadpool(threads) (the XNNPACK threadpool)"
    description = "ExecuTorch runtime, .pte lowered to the XNNPACK delegate (ops XNNPACK lacks run on portable kernels)"

    def import_framework(self) -> None:
        import executorch.runtime  # noqa: F401  (the pybindings load the runtime and its delegates)

    def load(self, artifact: Artifact, threads: int) -> Session:
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime as EtRuntime

        portable_lib._unsafe_reset_threadpool(threads)
        program = EtRuntime.get().load_program(artifact.path)
        method = program.load_method("forward")
        details = {"precision_used": "f32", "precision_source": "the .pte's FP32 program, lowered to XNNPACK without an "
                   "FP16 partitioner config (XNNPACK computes FP32 unless a model is lowered to FP16)",
                   "shape_mode": "static" if artifact.meta.get("static_batch") else "as exported (dynamic batch)"}
        return _EtSession(method, artifact.meta.get("input_names"), artifact.meta.get("static_batch"), details)
