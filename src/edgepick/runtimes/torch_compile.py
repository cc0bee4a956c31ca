"""torch.compile with the inductor backend on CPU.

torch.compile is lazy: the first call traces the module and has inductor generate and build C++ kernels. The
worker calls `Session.compile(prepared)` in its own timed phase before the first inference, so compilation is
recorded as `compile_s` and never leaks into first-inference or steady-state latency.
"""

from __future__ import annotations

import shutil

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session, run_precision
from edgepick.runtimes.torch_eager import TorchEager, _TorchSession, load_torch_module, pin_torch_precision, set_torch_threads


class _CompiledSession(_TorchSession):
    def compile(self, prepared) -> None:
        """Trigger compilation for these input shapes (the eval loop reuses the same batch, so no recompiles), and
        say whether Inductor's on-disk caches (TORCHINDUCTOR_CACHE_DIR, else /tmp/torchinductor_<user>) had it from
        an earlier process: compile_s is then a cache hit's (the demo's: 2 s against 14.5 s cold), not what a
        deployment's first start pays on a fresh machine."""
        before = _cache_counts()  # the process's counters: a shared worker (launch/grouped.py) compiled others before
        self.run(prepared)
        after = _cache_counts()
        if self.details is not None:
            self.details["inductor_cache"] = {cache: {what: after[cache][what] - before[cache][what] for what in counts}
                                              for cache, counts in after.items()}


def _cache_counts() -> dict[str, dict[str, int]]:
    """Inductor's FX graph cache and AOTAutograd's cache: hits and misses so far in this process."""
    from torch._dynamo.utils import counters

    return {"fx_graph": {w: int(counters["inductor"][f"fxgraph_cache_{w}"]) for w in ("hit", "miss")},
            "aot_autograd": {w: int(counters["aot_autograd"][f"autograd_cache_{w}"]) for w in ("hit", "miss")}}


class TorchCompile(Runtime):
    name = "torch-compile"
    formats = TorchEager.formats
    import_name = "torch"
    distribution = "torch"
    extra = "torch"
    precisions = ("fp32", "bf16")
    thread_setting = "torch.set_num_threads before compiling (inductor bakes the OpenMP thread count into its kernels)"
    description = "PyTorch 2 torch.compile, inductor backend, CPU C++ codegen; compile time reported apart as compile_s"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        reason = super().unavailable_reason()
        if reason is None and not (shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")):
            return "torch.compile's inductor backend needs a C++ compiler on PATH (g++ or clang++); install one, e.g. apt-get install g++"
        return reason

    def import_framework(self) -> None:
        """torch plus the compiler stack (dynamo, inductor), so their import time is not counted as loading the model."""
        import torch._dynamo  # noqa: F401
        import torch._inductor.compile_fx  # noqa: F401

    def load(self, artifact: Artifact, threads: int) -> Session:
        import torch
        import torch._inductor.config as inductor

        set_torch_threads(threads)
        details = pin_torch_precision(run_precision(artifact))
        # No fast-math in the generated C++: FP32 rows must compute IEEE FP32 (both are today's defaults, pinned).
        inductor.cpp.enable_unsafe_math_opt_flag = False
        inductor.cpp.enable_floating_point_contract_flag = "off"
        details["shape_mode"] = "static (dynamic=False: compiled for the shapes of the first call)"
        details["precision_source"] += (f"; inductor cpp.enable_unsafe_math_opt_flag={inductor.cpp.enable_unsafe_math_opt_flag}"
                                        f", fp_contract={inductor.cpp.enable_floating_point_contract_flag}")
        module = load_torch_module(artifact)
        try:
            # dynamic=False: one static graph per batch size, like every other fixed-shape runtime here.
            compiled = torch.compile(module, backend="inductor", mode="default", dynamic=False, fullgraph=False)
        except Exception as e:  # compile() itself only wraps; failures surface in the compile phase
            raise errors.CandidateFailure(errors.CONVERSION_ERROR, f"torch.compile refused the module: {e}") from e
        return _CompiledSession(compiled, artifact.meta.get("input_names"), run_precision(artifact), details)
