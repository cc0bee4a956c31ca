"""ExecuTorch: a .pte program (torch.export, lowered to the XNNPACK delegate) run by ExecuTorch's own runtime."""

from __future__ import annotations

import numpy as np

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session


class _EtSession(Session):
    def __init__(self, program, input_names, static_batch, details=None):
        self.details = details
        self.program = program  # held while its method runs, as executorch.runtime's Program holds it
        self.method = program.load_method("forward")
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
        return self.method(prepared)  # the C++ method itself (executorch.runtime.Method.execute calls just this)

    def to_numpy(self, outputs):
        return [o.numpy() if hasattr(o, "numpy") else np.asarray(o) for o in outputs]


class ExecuTorch(Runtime):
    name = "executorch"
    formats = ("executorch-pte",)
    import_name = "executorch"
    distribution = "executorch"
    extra = "executorch"
    thread_setting = "_unsafe_reset_threadpool(threads) (ExecuTorch's XNNPACK threadpool)"
    description = "ExecuTorch runtime, .pte lowered to the XNNPACK delegate (ops XNNPACK lacks run on portable kernels)"

    def import_framework(self) -> None:
        _bindings()

    def load(self, artifact: Artifact, threads: int) -> Session:
        bindings = _bindings()
        bindings._unsafe_reset_threadpool(threads)
        program = bindings._load_program(str(artifact.path), enable_etdump=False, debug_buffer_size=0,
                                         program_verification=bindings.Verification.InternalConsistency)
        details = {"precision_used": "f32", "precision_source": "the .pte's FP32 program, lowered to XNNPACK without an "
                   "FP16 partitioner config (XNNPACK computes FP32 unless a model is lowered to FP16)",
                   "shape_mode": "static" if artifact.meta.get("static_batch") else "as exported (dynamic batch)"}
        return _EtSession(program, artifact.meta.get("input_names"), artifact.meta.get("static_batch"), details)


def _bindings():
    """ExecuTorch's C++ runtime bindings (the `_C` extension), loaded as its `portable_lib` loads them (torch first:
    the extension links libtorch's libraries) but without `portable_lib` itself, whose import brings in the whole
    export stack (executorch.exir) to issue one warning: 5.6-7 s of import here, 1.5 s without. The program is
    loaded and run by the same C++ calls that executorch.runtime's Program and Method make. Where a release has no
    `_C` of that name, portable_lib (which re-exports it) is used."""
    import torch  # noqa: F401

    try:
        from executorch.extension.pybindings import _C
    except ImportError:
        from executorch.extension.pybindings import portable_lib as _C
    return _C
