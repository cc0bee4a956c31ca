"""The sweep's measurement-rigor hooks: noise control around each worker, cold starts, roofline, interleaving.

sweep/scheduler.py calls from here: `run_measured` instead of a bare run_worker (load before/after, one longer re-run
when noisy, cold-start repeats: `noise` and `cold_start` go into the worker's result, declared in core/job.py FIELDS),
`keep_job` (what a later window re-launches), and `after_sweep` once all rows exist (repeats, roofline, interleaved
windows for the candidates statistically tied with the pick).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from edgepick.launch import base as launch
from edgepick.measure import noise
from edgepick.rigor.repeats import repeat_windows, run_window


def job_extras(request) -> dict:
    extras = {}
    if request.rigor.scenario:
        extras["loadgen"] = request.rigor.scenario
    if request.rigor.profile_runs:
        extras["profile_runs"] = request.rigor.profile_runs
    if remeasures(request):  # the worker re-measures an unsteady median itself (worker/measure.py)
        extras["remeasure_above"] = noise.CI_THRESHOLD
    return extras


def remeasures(request) -> bool:
    """Whether a median that moved in its window (noise.moved) is re-measured longer: asked (--noise-retry, the
    default), and the steady state is no deliberate quick look (under 0.5 s: tests, smoke runs), where it is only
    warned about."""
    return bool(request.rigor.noise_retry) and request.time.policy.min_duration_s >= 0.5


def run_measured(job: dict, work_dir: Path, request) -> dict:
    """run_worker with the machine's load recorded before and after; a row whose median moved in its window (its
    drift-aware CI wider than +-5%, noise.py) is re-measured once, longer: in its own worker (worker/measure.py's
    `remeasure_above`), which is spared the framework's import and the load; in a fresh one where the worker did not
    (a device's older agent)."""
    job = dict(job, **job_extras(request))
    launcher, caps = launch.current(), launch.Caps.of(request)
    # a device launcher samples the load on the device itself, around its worker; the head's load says nothing there
    before = noise.machine_load(reuse_within_s=noise.REUSE_WITHIN_S) if launcher.device is None else None
    result = launcher.launch(job, work_dir, caps)
    # a device, or a shared worker (launch/grouped.py), sampled the load around its worker: those samples are its
    after = result.pop("load_after", None) or (noise.machine_load() if launcher.device is None else None)
    before = result.pop("load_before", before)
    remeasured = result.pop("remeasured", None)
    warnings = noise.assess(result, before, after) if result.get("status") == "ok" else []
    info = {"load_before": before, "load_after": after, "warnings": warnings, "extended": False}
    if remeasured:  # the worker found its median moved and measured once more, longer: that window is the row's
        first = {k: remeasured[k] for k in ("first_robust_cv", "first_ci_halfwidth") if k in remeasured}
        info.update(extended=True, **first)
    # a median that moved is what a longer steady state can fix; a busy machine or a clock change is only warned about.
    # A pruned probe (sweep/search.py) is not re-measured: its figures only had to show it clearly slower; nor is a
    # deferred one (sweep/racing.py), which is measured in full after the others if it still contends.
    probed = result.get("probe") or {}
    probed_only = bool(probed.get("pruned") or probed.get("deferred"))
    retry = remeasures(request) and not probed_only and not remeasured
    if retry and any(w.startswith(noise.UNSTEADY) for w in warnings) and result.get("status") == "ok":
        longer = request.time.policy.longer()
        retry = launcher.launch(dict(job, timing=longer.to_dict(), remeasure_above=None), work_dir, caps)
        after2 = retry.pop("load_after", None) or noise.machine_load()
        after = retry.pop("load_before", after)
        if retry.get("status") == "ok":
            retry_warnings = noise.assess(retry, after, after2)
            info.update(extended=True, first_robust_cv=result["latency_ms"].get("robust_cv"), load_after=after2,
                        first_ci_halfwidth=noise.median_halfwidth(result["latency_ms"]), warnings=retry_warnings)
            result = retry
    result["noise"] = info
    if request.rigor.cold_start and result.get("status") == "ok" and not probed_only:
        from edgepick.rigor.coldstart import cold_start

        result["cold_start"] = cold_start(job, work_dir, request.rigor.cold_start, request.time.timeout_s,
                                          request.target.memory_limit, request.target.memory_mechanism)
    return result


def keep_job(row: dict, job: dict) -> None:
    """What repeats and interleaved windows need to re-launch this candidate (the full artifact, meta included); the
    figures the worker and the passes above wrote into its result reach the row through core/job.copy_measured."""
    row["worker_job"] = {k: job[k] for k in ("runtime", "artifact", "threads", "batch", "cores", "inputs") if k in job}


def _onnx_for(spec, rows: list[dict], artifacts_root: Path) -> str | None:
    if spec.artifact.format == "onnx":
        return spec.artifact.path
    # the model's ONNX export, cached by this or an earlier sweep; never export just for the roofline (it can take
    # longer than the sweep itself)
    import json

    for record in sorted(artifacts_root.glob("*/artifact.json")):
        art = json.loads(record.read_text()).get("artifact", {})
        if art.get("format") == "onnx" and Path(art.get("path", "")).exists():
            return art["path"]
    return None


def _graph_for(row: dict, base: str | None) -> str | None:
    """A row whose own artifact is ONNX (e.g. a pruned or quantized one) is counted on its own graph."""
    art = row.get("artifact") or {}
    return art["path"] if art.get("format") == "onnx" and art.get("path") else base


def annotate_roofline(rows: list[dict], spec, artifacts_root: Path) -> dict | None:
    """Add row['roofline'] (achieved GFLOP/s, % of measured peak) to every ok row; return the graphs' costs and peaks."""
    from edgepick.measure.roofline import graph_cost, row_efficiency
    from edgepick.rigor.peak import peak

    base = _onnx_for(spec, rows, artifacts_root)
    costs: dict[str, dict] = {}
    peaks: dict[int, dict] = {}
    for row in rows:
        if row.get("status") != "ok":
            continue
        onnx_path = _graph_for(row, base)
        if onnx_path is None:
            row["roofline"] = {"unavailable": "no ONNX graph of this model yet to count MACs in; a sweep that "
                                              "includes onnxruntime or openvino exports one"}
            continue
        if onnx_path not in costs:
            costs[onnx_path] = graph_cost(onnx_path)
        cost = costs[onnx_path]
        t = row["threads"]
        peaks[t] = peaks.get(t) or peak(t)
        eff = row_efficiency(row, cost, peaks[t])
        if eff and eff["pct_of_peak"] and eff["pct_of_peak"] > 100 and not peaks[t].get("remeasured"):
            # a runtime beat the micro-benchmark: the cached peak is understated (e.g. taken while the machine was
            # busier than it looked). Measure it again, once, and keep the higher figures.
            peaks[t] = dict(peak(t, refresh=True), remeasured=True)
            eff = row_efficiency(row, cost, peaks[t])
        if eff:
            row["roofline"] = eff | {"graph_macs_per_item": cost["macs"], "graph_bytes_per_item": cost["bytes"],
                                     "convention": cost["convention"], "peak_method": peaks[t]["method"],
                                     "peak_warning": peaks[t].get("busy_warning")}
    return {"graphs": {path: {k: v for k, v in c.items() if k != "nodes"} for path, c in costs.items()}, "peaks": peaks}


def interleave_close(rows: list[dict], best: dict | None, run_dir: Path, inputs_path: Path, request) -> list[dict]:
    """A B A B windows of the pick and each candidate tied with it; the verdict goes into the tied row."""
    rounds = request.rigor.interleave
    close = [r for r in noise.close_pairs(rows, best) if r.get("worker_job")]
    if not rounds or not close or not best.get("worker_job"):
        return []
    window = replace(request.time.policy, min_duration_s=max(0.2, request.time.policy.min_duration_s / 2),
                     min_samples=max(10, request.time.policy.min_samples // 2))
    comparisons = []
    for other in close:
        medians: dict[str, list[float]] = {best["key"]: [], other["key"]: []}
        for i in range(rounds):
            for row in (best, other):
                res = run_window(row, inputs_path, window, run_dir / "interleave" / f"{row['key'].replace('/', '_')}-{i}",
                                 request)
                if res.get("status") == "ok":
                    medians[row["key"]].append(res["latency_ms"]["p50"])
        verdict = noise.interleaved_verdict(medians[best["key"]], medians[other["key"]])
        verdict |= {"a": best["key"], "b": other["key"]}
        other["interleaved"] = verdict
        comparisons.append(verdict)
    return comparisons



def after_sweep(rows: list[dict], spec, artifacts_root: Path, run_dir: Path, inputs_path: Path, request,
                pick_best, notify=None) -> list[dict]:
    """Repeated fresh-process windows (--repeats), roofline on every ok row, then interleaved windows for rows tied
    with the pick. Returns the rows it changed."""
    repeated = repeat_windows(rows, run_dir, inputs_path, request, notify)
    try:
        annotate_roofline(rows, spec, artifacts_root)
    except Exception as e:  # onnx/onnxruntime absent, or a graph shape inference cannot read: the rows stay measured
        why = f"roofline needs onnx and onnxruntime: {e}" if isinstance(e, ImportError) else f"{type(e).__name__}: {e}"
        for row in rows:
            if row.get("status") == "ok" and not row.get("roofline"):
                row["roofline"] = {"unavailable": why[:300]}
    changed = [r for r in rows if r.get("roofline") or r in repeated]
    if request.rigor.interleave:
        for verdict in interleave_close(rows, pick_best(rows), run_dir, inputs_path, request):
            changed.extend(r for r in rows if r["key"] == verdict["b"] and r not in changed)
    return changed
