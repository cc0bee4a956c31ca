"""One framework's training, in its own process: `python -m edgepick.train.worker job.json`.

Phases, in order, each recorded: import (and the RSS it adds), the data pipeline alone, build + copy of the initial
weights, the forward check against the PyTorch reference (a copy that disagrees stops here, as a `disagrees` row),
a warm-up fit (its first step is the trace/compile time), then one training per seed, from that seed's initial
weights, timing every step and the held-out accuracy after every epoch. Only NumPy and edgepick's light modules
are imported up front, so the same worker runs in MXNet's venv.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from edgepick.core import errors
from edgepick.core.procmem import peak_rss_mb, rss_mb, write_result
from edgepick.measure.equivalence import Tolerance, compare
from edgepick.train import data as train_data
from edgepick.train import weights
from edgepick.train.clock import Clock

KEEP_STEPS = 5000


def _trainer(job: dict):
    module, _, cls = job["trainer"].partition(":")
    return getattr(importlib.import_module(module), cls)(dict(job.get("options", {})))


def _percentiles(steps_ns: list[int]) -> dict | None:
    if not steps_ns:
        return None
    ms = np.asarray(steps_ns, dtype=np.float64) / 1e6
    return {"p50": float(np.percentile(ms, 50)), "p90": float(np.percentile(ms, 90)), "mean": float(ms.mean()),
            "min": float(ms.min()), "max": float(ms.max()), "n": int(ms.size)}


def _check_copy(trainer, arrays: dict, job: dict, result: dict) -> None:
    if job.get("reference") is None:  # a user's model: no common definition to copy from (user_models.NO_COPY)
        from edgepick.train.user_models import NO_COPY

        result["equivalence"] = {"skipped": NO_COPY}
        return
    got = trainer.forward(arrays["x_probe"])
    reference = np.load(job["reference"])["logits"]
    eq = compare([reference], [got], Tolerance(**job.get("tolerance", {})))
    result["equivalence"] = {k: eq.get(k) for k in ("max_abs_err", "max_rel_err", "cosine", "top1_agreement")}
    np.save(Path(job["outputs"]).with_name("probe_logits.npy"), got)
    if not eq["agrees"]:
        raise errors.CandidateFailure(errors.DISAGREES, f"initial-weight copy disagrees with PyTorch's forward: {eq['why']}")


def train(job: dict, result: dict) -> None:
    if job.get("cores"):
        os.sched_setaffinity(0, job["cores"])
    result["affinity"] = sorted(os.sched_getaffinity(0))
    result["baseline_rss_mb"] = rss_mb()
    trainer = _trainer(job)
    result["phase"] = "import"
    t0 = time.perf_counter()
    result["versions"] = trainer.import_framework(job["threads"])
    result["import_s"] = time.perf_counter() - t0
    result["import_rss_mb"] = rss_mb()
    arrays = train_data.load(job["data"])
    x, y, batch = arrays["x_train"], arrays["y_train"], job["hyperparameters"]["batch"]

    result["phase"] = "data-pipeline"
    pipeline = trainer.make_loader(x, y, batch, 0, job["loader_workers"])
    result["data_pipeline"] = train_data.throughput(lambda: trainer.iterate(pipeline), job.get("pipeline_min_s", 1.0))

    result["phase"] = "load"
    # A user's model has no shared weight file: None = the model's own initial weights, kept by the trainer.
    states = [weights.load(p) for p in job["weights"]] or [None] * max(1, len(job["seeds"]))
    job["total_steps"] = job["epochs"] * (len(x) // batch)
    trainer.build(job, states[0])
    result["phase"] = "equivalence"
    _check_copy(trainer, arrays, job, result)
    if job.get("check_only"):  # the weight-copy check alone (tests, `edgepick train --check-only`)
        result["phase"] = "done"
        return

    evaluate = (lambda: trainer.accuracy(arrays["x_eval"], arrays["y_eval"])) if job["target"] is not None else None
    result["phase"] = "compile"  # the warm-up fit: its first step pays for tracing and compiling
    trainer.reset(states[0], job["total_steps"])
    warm = Clock(evaluate, None)
    trainer.fit(trainer.make_loader(x, y, batch, 0, job["loader_workers"]), job["warmup_epochs"], warm)
    result["first_step_s"] = warm.steps_ns[0] / 1e9 if warm.steps_ns else None
    result["warmup"] = warm.summary()
    steady_ns = list(warm.steps_ns[1:]) if not job["seeds"] else []

    result["phase"] = "steady-state"
    result["seeds"] = []
    for seed, state in zip(job["seeds"], states[len(states) - len(job["seeds"]):]):
        trainer.reset(state, job["total_steps"])
        clock = Clock(evaluate, job["target"])
        trainer.fit(trainer.make_loader(x, y, batch, seed, job["loader_workers"]), job["epochs"], clock)
        steady_ns += clock.steps_ns
        result["seeds"].append({"seed": seed, **clock.summary()})
    result["step_ms"] = _percentiles(steady_ns)
    result["step_samples_ms"] = [s / 1e6 for s in steady_ns[:KEEP_STEPS]]
    result["samples_per_s"] = batch * len(steady_ns) / (sum(steady_ns) / 1e9) if steady_ns else None
    if job.get("save_dir"):
        result["phase"] = "save"
        Path(job["save_dir"]).mkdir(parents=True, exist_ok=True)
        try:
            result["artifact"] = trainer.save(Path(job["save_dir"]))
        except Exception as e:  # the measurements stand; only deployment reach is lost
            result["artifact_error"] = f"{type(e).__name__}: {str(e).strip()[:300]}"
    result["phase"] = "done"


_PHASE_CLASS = {"import": errors.NOT_INSTALLED, "load": errors.LOAD_ERROR, "equivalence": errors.LOAD_ERROR,
                "compile": errors.CONVERSION_ERROR}


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    out = Path(job["result"])
    result: dict = {"phase": "start", "pid": os.getpid()}
    try:
        train(job, result)
        result["status"] = "ok"
    except errors.CandidateFailure as e:
        result.update(status="disagrees" if e.reason_class == errors.DISAGREES else "failed",
                      reason_class=e.reason_class, reason=e.message)
    except MemoryError:
        result.update(status="failed", reason_class=errors.OOM, reason=f"MemoryError during {result['phase']}")
    except Exception as e:  # a framework's own exception type: classified by the phase it broke in
        # The most specific line: MXNet and TensorFlow put a C++ traceback first and the message last.
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith(("Traceback", "File "))]
        first = lines[-1][:300] if lines else ""
        message = f"{type(e).__name__} during {result['phase']}: {first}"
        oom = "bad_alloc" in str(e) or "out of memory" in str(e).lower()
        result.update(status="failed", reason=message,
                      reason_class=errors.OOM if oom else _PHASE_CLASS.get(result["phase"], errors.RUNTIME_ERROR))
        result["traceback"] = traceback.format_exc()[-4000:]
    result["peak_rss_mb"] = peak_rss_mb()
    write_result(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
