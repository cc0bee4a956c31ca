"""torch.compile's builds on a core the conversions leave idle (issue 23: no idle waiting).

torch.compile builds its kernels on the first call, in the measuring worker: 17-76 s per corpus model for its FP32
and BF16 rows (706 s of the corpus's 2,030 s of measure phase), while the measurements run one worker at a time. A
build needs no quiet core, and the conversion phase often has one idle at its tail (one long converter left
running alone). There, each torch-compile row's own job, stopped after its first call (`cold_only`,
worker/measure.py), runs in a capped worker; Inductor keeps the kernels in its cache (TORCHINDUCTOR_CACHE_DIR, else
/tmp/torchinductor_<user>), keyed by the graph, the shapes, the thread count and the config, so the measuring worker,
building the same graph the same way, gets a cache hit. Nothing timed changes: the steady state runs the same kernels.
The row keeps both figures: `compile_s` (the measuring worker's, then the cache hit) and `compile_ahead_s`.

Only idle time is used: a build starts only while a conversion is still running (the pool reaches this task when
no conversion is left to start), so the phase outlasts its conversions by one build at most. Builds run in turn,
not side by side: side by side each paid the toolchain's first use (benchmarks/README.md §10). A build that fails
here is left to the row's own turn, which reports it as before.
"""

from __future__ import annotations

from collections.abc import Callable

from edgepick.core import errors
from edgepick.core.registry import RUNTIMES
from edgepick.launch import base as launch
from edgepick.plan.planner import Candidate


def wanted(candidates: list[Candidate]) -> list[Candidate]:
    """The rows whose runtime builds on its first call into a cache a later process reuses (Runtime.compiles_ahead),
    FP32 first (the BF16 row's build is the likelier to fail or disagree)."""
    built = [c for c in candidates if getattr(RUNTIMES.get(c.runtime), "compiles_ahead", False)]
    return sorted(built, key=lambda c: (c.precision != "fp32", c.batch))


def task(sw, candidates: list[Candidate], converting: Callable[[], bool]) -> Callable[[], None]:
    """The builds, one after another while `converting()` says a conversion still runs; each built row's cold
    build seconds go into sw.compiled_ahead."""
    def build_while_idle() -> None:
        for cand in candidates:
            if not converting():
                return
            _build(sw, cand)
    return build_while_idle


def _build(sw, cand: Candidate) -> None:
    converted = sw.convert(cand, sw.run_dir)  # the row's artifact (a conversion another thread may be making)
    if isinstance(converted, errors.CandidateFailure):
        return
    sw.notify("converting", {"key": f"{cand.key}: its build, on a core the conversions left idle"})
    job = dict(sw.worker_job(cand, converted[0]), cold_only=True)
    job.pop("cores", None)  # any free core: nothing is timed here
    out_dir = sw.run_dir / "compile-ahead" / cand.key.replace("/", "_")
    result = launch.current().launch(job, out_dir, launch.Caps.of(sw.request))
    if result.get("status") == "ok" and result.get("compile_s") is not None:
        sw.compiled_ahead[cand.key] = result["compile_s"]
