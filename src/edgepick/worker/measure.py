"""The measurement worker: one candidate, in its own process. `python -m edgepick.worker.measure job.json`.

It reads a job (JSON), measures the phases in order and writes a result (JSON) plus the outputs on the eval
inputs (.npz). Anything it can catch becomes a classified failure in the result; what it cannot catch (a
segfault, the OOM killer, a hang) the launcher classifies from the outside.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.core.job import TimingPolicy
from edgepick.core.procmem import peak_rss_mb, rss_mb, write_result
from edgepick.core.registry import RUNTIMES
from edgepick.inputs.data import load_inputs_npz
from edgepick.measure import noise
from edgepick.worker import energy, sensors
from edgepick.worker.latency import probe, pruned_by, summarize, timed_loop


def _batch_of(samples: dict[str, np.ndarray], start: int, batch: int) -> dict[str, np.ndarray]:
    """Samples [start, start+batch), wrapping around so every call has exactly `batch` rows."""
    n = len(next(iter(samples.values())))
    if getattr(samples, "whole_feeds", False):  # no batch axis (inputs/data.py): sample i is the model's whole input
        return {k: np.asarray(v[start % n], order="C") for k, v in samples.items()}
    idx = [(start + i) % n for i in range(batch)]
    return {k: np.ascontiguousarray(v[idx]) for k, v in samples.items()}


def _has_nan(arrays: list[np.ndarray]) -> bool:
    return any(np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all() for a in arrays)


@dataclasses.dataclass
class Prepared:
    """A candidate loaded and past its first inference (a lazy compiler's compile): what the timings start from."""

    runtime: object
    artifact: Artifact
    samples: dict
    session: object
    prepared: object


def prepare(job: dict, result: dict) -> Prepared:
    """Everything before the timings, none of which needs quiet cores: the process's caps, the import, the load, the
    first inference. A shared worker started ahead runs it for its first member before its turn (worker/shared_group.py)."""
    result.update(phase="start", pid=os.getpid())
    if job.get("cores"):
        os.sched_setaffinity(0, job["cores"])
    result["affinity"] = sorted(os.sched_getaffinity(0))
    if job.get("rlimit_as_bytes"):
        resource.setrlimit(resource.RLIMIT_AS, (job["rlimit_as_bytes"], job["rlimit_as_bytes"]))
    result["baseline_rss_mb"] = rss_mb()
    runtime = RUNTIMES.get(job["runtime"])()
    artifact = Artifact.from_dict(job["artifact"])
    samples = load_inputs_npz(Path(job["inputs"]))
    session = _load(job, result, runtime, artifact, samples)
    return Prepared(runtime, artifact, samples, session, _first_inference(job, result, session, samples))


def measure(job: dict, result: dict | None = None, ready: Prepared | None = None) -> dict:
    """One candidate in this process, phase by phase: import, load, first inference (`prepare`, unless `ready` says
    it was done), steady state, eval outputs. `result["phase"]` always names the phase running, so a crash or a kill
    says where it happened; filled in place, so what a failure leaves (the phase, the runtime's compile details)
    reaches the row."""
    result = {} if result is None else result
    state = ready or prepare(job, result)
    if job.get("cold_only"):  # cold-start repeats (rigor/coldstart.py) stop at the first answer
        return _finish(result, state.session)
    _steady_state(job, result, state.runtime, state.artifact, state.session, state.samples, state.prepared)
    if job.get("skip_eval"):  # interleaved comparison windows only need the timings
        return _finish(result, state.session)
    _eval_outputs(job, result, state.session, state.samples)
    return _finish(result, state.session)


def _load(job: dict, result: dict, runtime, artifact: Artifact, samples):
    result["phase"] = "import"
    t0 = time.perf_counter()
    runtime.import_framework()
    result["import_s"] = time.perf_counter() - t0

    result["phase"] = "load"
    # What the runtime is asked to compile for: the precision of the row, and the exact shapes it will be fed.
    artifact.meta.setdefault("run_precision", "fp32")  # sweep/scheduler.py sets the row's; FP32 for jobs made elsewhere
    artifact.meta.setdefault("measured_shapes", {k: list(v.shape) for k, v in _batch_of(samples, 0, job["batch"]).items()})
    t0 = time.perf_counter()
    session = runtime.load(artifact, job["threads"])
    result["load_s"] = time.perf_counter() - t0
    if getattr(session, "details", None):  # what the runtime verified at load (e.g. LiteRT: XNNPACK delegate applied)
        result["runtime_details"] = session.details
    return session


def _first_inference(job: dict, result: dict, session, samples):
    result["phase"] = "first-inference"
    prepared = session.prepare(_batch_of(samples, 0, job["batch"]))
    if hasattr(session, "compile"):  # lazy compilers (torch.compile) build code on their first call: timed apart
        result["phase"] = "compile"
        t0 = time.perf_counter()
        session.compile(prepared)
        result["compile_s"] = time.perf_counter() - t0
        result["phase"] = "first-inference"
    t0 = time.perf_counter_ns()
    outputs = session.run(prepared)
    result["first_inference_ms"] = (time.perf_counter_ns() - t0) / 1e6
    if _has_nan(session.to_numpy(outputs)):
        raise errors.CandidateFailure(errors.NAN_OUTPUTS, "NaN or Inf in the outputs of the first inference")
    return prepared


def _probe(job: dict, result: dict, session, prepared) -> bool:
    """The search's probe (sweep/search.py; the windows: worker/latency.probe) against the best probe so far.
    True when it ends the measurement: clearly slower (pruned), or probed before any bar existed and left to be
    judged against the race's last bar (`deferred`: sweep/racing.py measures it in full then if it contends); the
    probe's figures become the row's and the steady state is skipped. Otherwise the probe was part of the warm-up
    and the full measurement follows."""
    result["phase"] = "probe"
    bar, deferred = job["probe"].get("bar"), bool(job["probe"].get("defer"))
    steady = TimingPolicy(**job.get("timing", {}))  # a deferred probe sets the first bar: the steady state's warm-up
    found = probe(lambda: session.run(prepared), bar, judged_later=deferred, warm_up=steady if deferred else None)
    summary, samples_ns = found["summary"], found["samples_ns"]
    result["probe"] = {"latency_ms": {k: summary[k] for k in ("p50", "p90", "p50_ci95", "robust_cv", "samples")},
                       "warmup_calls": found["warm"], "windows": found["windows"]}
    if found["pruned"]:
        result["probe"]["pruned"] = pruned_by(summary["p50"], bar)
    elif deferred:
        result["probe"]["deferred"] = True
    else:
        return False
    result.update(latency_ms=summary, latency_samples_ms=[s / 1e6 for s in samples_ns], warmup_calls=found["warm"],
                  throughput_per_s=job["batch"] * len(samples_ns) / (sum(samples_ns) / 1e9))
    return True


def _steady_state(job: dict, result: dict, runtime, artifact: Artifact, session, samples, prepared) -> None:
    batch = job["batch"]
    policy, probe_calls = TimingPolicy(**job.get("timing", {})), 0
    if job.get("probe"):
        started = time.perf_counter()
        if _probe(job, result, session, prepared):
            return  # pruned or deferred: its eval outputs are checked, its steady state is not run (yet)
        # a contender: the probe's calls were warm-up calls, so they count towards the warm-up's count and time
        probed = result["probe"]
        probe_calls = probed["warmup_calls"] + probed["latency_ms"]["samples"]
        policy = dataclasses.replace(policy, warmup_count=max(0, policy.warmup_count - probe_calls),
                                     warmup_s=max(0.0, policy.warmup_s - (time.perf_counter() - started)))
    result["phase"] = "steady-state"
    cores = sorted(os.sched_getaffinity(0))
    before = sensors.snapshot(cores)  # clocks and temperatures around the steady state: throttling shows on a board
    probe = energy.Probe.start()
    samples_ns, warm, summary = _timed_steadily(job, result, lambda: session.run(prepared), policy)
    result["energy"] = probe.stop(len(samples_ns) + warm, batch)
    after = sensors.snapshot(cores)
    readable = before["cpu_mhz"] is not None or before["thermal_c"]
    result["energy"]["sensors"] = {"before": before, "after": after} if readable else {
        "unavailable": sensors.availability(cores)}
    result["warmup_calls"] = probe_calls + warm  # every call before the steady state's samples
    result["latency_ms"] = summary
    result["latency_samples_ms"] = [s / 1e6 for s in samples_ns[: job.get("keep_samples", 5000)]]
    result["throughput_per_s"] = batch * len(samples_ns) / (sum(samples_ns) / 1e9)
    if job.get("loadgen") or job.get("profile_runs"):
        from edgepick.worker.optional_phases import after_steady_state

        after_steady_state(job, result, runtime.name, artifact, session, samples, batch, _batch_of)
    if job.get("realtime"):  # the whole frame loop, back to back or on a camera clock (worker/frameloop.py)
        from edgepick.worker.frameloop import frame_loop_phase

        frame_loop_phase(job, result, session, samples, batch, _batch_of)


def _timed_steadily(job: dict, result: dict, call, policy: TimingPolicy) -> tuple[list[int], int, dict]:
    """The steady state (samples, warm-up calls, their summary); when its median moved during the window (its
    drift-aware CI wider than the job's `remeasure_above`, measure/noise.py), once more and longer in this process
    (twice the duration and samples), which replaces it: the first window was a long warm-up, so the framework's
    import and the load are not paid again for the re-measure. A wide spread around a steady median is no reason:
    more calls do not narrow it."""
    samples_ns, warm = timed_loop(call, policy)
    first = summarize(samples_ns)
    above = job.get("remeasure_above")  # None: not asked (rigor/run.remeasures says when)
    if above is None or not noise.moved(first, above):
        return samples_ns, warm, first
    longer = dataclasses.replace(policy.longer(), warmup_count=0, warmup_s=0.0)  # the first window warmed it up
    result["remeasured"] = {"first_robust_cv": first["robust_cv"], "first_samples": len(samples_ns),
                            "first_ci_halfwidth": noise.median_halfwidth(first)}
    again, _ = timed_loop(call, longer)
    return again, warm + len(samples_ns), summarize(again)


def _eval_outputs(job: dict, result: dict, session, samples) -> None:
    """The outputs on every eval input, saved for the parent to compare with the reference."""
    batch = job["batch"]
    result["phase"] = "eval"
    n = len(next(iter(samples.values())))
    chunks = []
    for start in range(0, n, batch):
        got = session.to_numpy(session.run(session.prepare(_batch_of(samples, start, batch))))
        # A last call wrapped around to fill the batch: keep its real rows. A full call is kept whole, for an
        # output's axis 0 need not be the batch (a sequence model's [T, 1, C] on a fixed batch of 1).
        rows = min(batch, n - start)
        chunks.append([g[None] if samples.whole_feeds else g if rows == batch else g[:rows] for g in got])
    eval_outputs = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
    if _has_nan(eval_outputs):
        raise errors.CandidateFailure(errors.NAN_OUTPUTS, "NaN or Inf in the outputs on the eval inputs")
    np.savez(job["outputs"], *eval_outputs)


def _finish(result: dict, session) -> dict:
    session.close()
    result["phase"] = "done"
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


_PHASE_CLASS = {"import": errors.NOT_INSTALLED, "load": errors.LOAD_ERROR, "compile": errors.CONVERSION_ERROR}


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    write_result(Path(job["result"]), run_one(job))
    return 0


def run_one(job: dict, ready: tuple[dict, Prepared | None] | None = None) -> dict:
    """The job's result: measured, or its failure classified by the phase it broke in. `ready`: what `prepare_early`
    left for this job (its partial result, and the prepared candidate unless preparing it failed)."""
    result, state = ready if ready is not None else ({}, None)
    if result.get("status") != "failed" and classified(result, lambda: measure(job, result, state)):
        result["status"] = "ok"
    result.setdefault("peak_rss_mb", _peak_rss_mb())
    return result


def prepare_early(job: dict) -> tuple[dict, Prepared | None]:
    """`prepare` ahead of the job's turn: (its partial result, the prepared candidate or None where it failed, the
    failure then classified in the result as `run_one` would)."""
    result: dict = {}
    done = classified(result, lambda: prepare(job, result))
    return result, done if done is not False else None


def classified(result: dict, step):
    """step()'s value, or False with its failure classified into `result` (status, reason class, reason)."""
    try:
        return step()
    except errors.CandidateFailure as e:
        result.update(status="failed", reason_class=e.reason_class, reason=e.message)
    except MemoryError:
        result.update(status="failed", reason_class=errors.OOM, reason="MemoryError in the worker")
    except Exception as e:  # any runtime's own exception type: classify by the phase it broke
        phase = result.get("phase", "load")
        message = f"{type(e).__name__} during {phase}: {errors.first_line(e, 300, empty='')}"
        if "bad_alloc" in str(e) or "out of memory" in str(e).lower():
            result.update(status="failed", reason_class=errors.OOM, reason=message)
        else:
            result.update(status="failed", reason_class=_PHASE_CLASS.get(phase, errors.RUNTIME_ERROR), reason=message)
        result["traceback"] = traceback.format_exc()[-4000:]
    return False


def _peak_rss_mb() -> float:
    # Where /proc has no VmHWM, ru_maxrss is the one figure left (it may carry the parent's peak over fork+exec).
    return peak_rss_mb() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
