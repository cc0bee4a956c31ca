"""Optional worker phases after the steady state: MLPerf LoadGen scenarios and per-op profiles.

They run after the steady state so they never disturb its timings, and before the eval pass, on the session the
steady state used. A failure here is recorded in the result (with its reason) and does not fail the candidate:
the steady-state row is still valid.
"""

from __future__ import annotations

import traceback
from pathlib import Path


def _prepared_samples(session, samples, batch: int, batch_of, limit: int) -> tuple[list, str]:
    n = len(next(iter(samples.values())))
    prepared = [session.prepare(batch_of(samples, i * batch, batch)) for i in range(max(1, min(limit, n // batch or 1)))]
    if all(p is None for p in prepared):
        # runtimes that bind inputs inside prepare (OpenVINO) keep one bound batch; every query reuses it
        return [None], "one bound batch reused for every query (the runtime binds inputs at prepare)"
    return prepared, f"{len(prepared)} distinct prepared batches"


def after_steady_state(job: dict, result: dict, runtime_name: str, artifact, session, samples, batch: int, batch_of) -> None:
    work_dir = Path(job["result"]).parent
    if job.get("loadgen"):
        result["phase"] = "loadgen"
        try:
            from edgepick.worker.loadgen import LoadGenSettings, run_scenario

            settings = LoadGenSettings(**job["loadgen"])
            prepared, how = _prepared_samples(session, samples, batch, batch_of, settings.max_samples)
            out = run_scenario(session, prepared, settings, result["latency_ms"]["p50"], work_dir / "loadgen")
            out["inputs"] = how
            result["loadgen"] = out
        except ImportError as e:
            result["loadgen"] = {"error": f"mlcommons-loadgen is not installed ({e}): pip install 'edgepick[loadgen]'"}
        except Exception as e:  # keep the steady-state row; say why LoadGen did not give a verdict
            result["loadgen"] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
    if job.get("profile_runs"):
        result["phase"] = "profile"
        try:
            from edgepick.worker.profile import profile_ops

            raw = batch_of(samples, 0, batch)
            result["op_profile"] = profile_ops(runtime_name, artifact, job["threads"], session, raw, job["profile_runs"],
                                               work_dir)
        except Exception as e:
            result["op_profile"] = {"available": False, "why": f"{type(e).__name__}: {str(e)[:300]}"}
    # the OpenVINO session's request may hold another batch's tensors now; the eval pass prepares its own inputs
