"""Apache TVM (Relax): the ONNX model compiled ahead of time for this host's CPU into a shared library, run by the Relax VM."""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from edgepick.core.artifact import Artifact
from edgepick.runtimes import site_overlay as overlay
from edgepick.runtimes.base import Runtime, Session

# apache-tvm-ffi needs typing_extensions>=4.13; installed here only if the main environment pins an older one.
OVERLAY_REQUIREMENTS = ("typing_extensions>=4.13",)


class _TvmSession(Session):
    def __init__(self, vm, device, input_names, details=None):
        self.details = details
        self.main = vm["main"]
        self.device = device
        self.input_names = input_names

    def prepare(self, inputs):
        import tvm

        names = self.input_names or list(inputs)
        return [tvm.runtime.tensor(np.asarray(inputs[n], order="C"), self.device) for n in names]

    def run(self, prepared):
        return self.main(*prepared)

    def to_numpy(self, outputs):
        if hasattr(outputs, "numpy"):
            return [outputs.numpy()]
        return [o.numpy() for o in outputs]


class Tvm(Runtime):
    name = "tvm"
    formats = ("tvm-relax",)
    import_name = "tvm"
    distribution = "apache-tvm"
    extra = "tvm"
    thread_setting = "TVM_NUM_THREADS (read when the TVM thread pool starts)"
    description = "Apache TVM Relax, compiled with LLVM for the host CPU (-mcpu from LLVM's host detection), Relax VM"
    # unavailable_reason() imports TVM in a fresh interpreter (seconds), its answer kept by site_overlay.probe_import
    # (thread-safe): plan/planner.prefetch() asks it in the background while the model loads
    prefetch_availability = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("tvm") is None:
            return f"apache-tvm is not installed: {cls.install_hint()}"
        broken = overlay.probe_import("tvm", cls.name)
        if broken:
            return (f"apache-tvm is installed but `import tvm` fails here ({broken}); its FFI needs "
                    f"{', '.join(OVERLAY_REQUIREMENTS)} which this environment pins lower: run `edgepick doctor --fix` "
                    "to give TVM a private overlay")
        return None

    def import_framework(self) -> None:
        overlay.activate(self.name)
        import tvm  # noqa: F401

    def load(self, artifact: Artifact, threads: int) -> Session:
        os.environ["TVM_NUM_THREADS"] = str(threads)  # before the first parallel call starts the pool
        import tvm
        from tvm import relax

        device = tvm.cpu()
        vm = relax.VirtualMachine(tvm.runtime.load_module(artifact.path), device)
        # The library was compiled ahead of time (convert/onnx_to_tvm.py) for LLVM without fast-math: FP32 as written.
        details = {"precision_used": "f32", "precision_source": f"compiled for {artifact.meta.get('target', 'llvm')} "
                   f"-mcpu={artifact.meta.get('mcpu', '?')} without fast-math (the graph's FP32 dtypes)",
                   "shape_mode": "as compiled ahead of time (symbolic batch dims stay symbolic)"}
        return _TvmSession(vm, device, artifact.meta.get("input_names"), details)
