"""One run, end to end: model -> plan -> convert -> launch/measure -> compare -> store -> pick."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgepick import __version__, errors, paths
from edgepick.compress import hooks as compress_hooks
from edgepick.convert import static as static_graph
from edgepick.convert.stepcheck import blame
from edgepick.data import arrays_sha256
from edgepick.fingerprint import fingerprint
from edgepick.launch.isolated import convert_isolated, eval_data_isolated, reference_isolated
from edgepick.measure import rigor
from edgepick.measure.equivalence import accuracy_top1, compare, for_quantized_source
from edgepick.model import export_module, load_model
from edgepick.planner import Candidate, drop_for_platform, plan, resolve_runtimes
from edgepick.precision import REDUCED as REDUCED_PRECISIONS
from edgepick.precision import judge as judge_precision
from edgepick.precision import outcomes as precision_outcomes
from edgepick.precision import parse_precisions
from edgepick.result import Run
from edgepick.rows import CandidateRow, from_db, to_db
from edgepick.select.pick import pick
from edgepick.settings import Settings
from edgepick.signature import apply_shapes, parse_input_shapes, parse_input_values, require_resolved
from edgepick.store.db import Store

# The flat constructor tests, benchmarks and edgepick.pick() use: Request(model=..., threads=[1], budget=...).
Request = Settings.of


Progress = Callable[[str, dict], None]


def _cores_for(request: Settings, threads: int) -> list[int]:
    """Pin each worker to as many cores as it has threads: the user's list, or the first usable ones."""
    pool = request.target.cores or sorted(os.sched_getaffinity(0))
    return pool[: max(1, threads)]


def _request_key(request: Settings, spec, runtimes: list[str], inputs_digest: str) -> tuple[str, dict]:
    described = {
        "model_hash": spec.content_hash,
        "runtimes": runtimes,
        "threads": request.workload.threads,
        "batches": request.workload.batches,
        "signature": spec.signature.to_dict(),
        "eval_inputs_sha256": inputs_digest,
        "memory_limit": request.target.memory_limit,
        "cores": request.target.cores,
        "timing": request.time.policy.to_dict(),
        "tolerance": request.workload.tolerance.to_dict(),
        "edgepick": __version__,
    }
    if request.target.platform:
        described["platform"] = request.target.platform
    if request.rigor.key():
        described["rigor"] = request.rigor.key()
    if request.compression.compressions:
        described["compress"] = compress_hooks.key_settings(request)
    if request.rigor.realtime:
        described["realtime"] = request.rigor.realtime
    if request.workload.precisions:
        described["precisions"] = parse_precisions(request.workload.precisions)
    if request.target.on:  # a fleet run is its own run: resuming it measures only the devices' missing rows
        described["on"] = request.target.on
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest(), described


def execute(request: Settings, progress: Progress | None = None) -> Run:
    notify = progress or (lambda kind, info: None)
    request.check()  # each part validated its values when built; threads against cores once more after a device
    home = paths.home()
    spec = load_model(request.model, trust_pickle=request.workload.trust_pickle)
    apply_shapes(spec.signature, parse_input_shapes(request.workload.input_shape))
    parse_input_values(request.workload.input_values, spec.signature)
    spec.signature.whole = spec.signature.whole or request.workload.no_batch_axis
    data = eval_data_isolated(spec, request)  # the user's data callable / synthesis run in a capped worker
    require_resolved(spec.signature)
    if request.compression.compressions and spec.signature.whole_feeds:  # calibration and search batch the eval samples
        raise errors.UserError("--compress needs a model with a batch axis; this one has none (a scalar input, or "
                               "inputs whose leading dims differ) and is fed one whole input set per call")
    if spec.is_torch:  # a module's inputs are named by --input-shape: the workers feed them in that order
        spec.artifact.meta["input_names"] = spec.signature.names
    fleet = _open_fleet(request)  # --on: devices of a Ray cluster measure, in parallel (sweep_fleet.py)
    runtimes = resolve_runtimes(request.workload.runtimes)
    artifacts_root = home / "artifacts" / spec.content_hash[:16]
    artifacts_root.mkdir(parents=True, exist_ok=True)
    if spec.artifact.format == "torch-module":
        export_module(spec, artifacts_root)

    store = Store(request.db_url or paths.default_db_url())
    key, described = _request_key(request, spec, runtimes, arrays_sha256(data.inputs))
    run = None if request.force else store.find_resumable(key)
    done = {c.key: from_db(c) for c in run.candidates} if run else {}
    if run is None:
        described |= {"model": spec.name, "input_format": spec.artifact.format, "data_source": data.source,
                      "eval_samples": data.count}
        run = store.create_run(key, spec.name, spec.content_hash, described, fingerprint(spec.content_hash))
    run_dir = home / "runs" / run.id
    run_dir.mkdir(parents=True, exist_ok=True)
    inputs_path = run_dir / "eval_inputs.npz"
    data.save(inputs_path)
    try:  # the user's model runs in a capped worker; without a reference nothing can be compared, so the run stops
        ref_label, reference = reference_isolated(spec, inputs_path, run_dir, max(request.workload.threads), request)
    except errors.UserError as e:
        store.fail_run(run.id, str(e))
        raise
    source_tolerance = for_quantized_source(spec.artifact, request.workload.tolerance, reference)
    if source_tolerance is not request.workload.tolerance:  # an INT8 source is judged in steps of its output scale
        request = request.replace("workload", tolerance=source_tolerance)
    ref_accuracy = accuracy_top1(reference[0], data.labels) if data.labels is not None else None

    candidates = plan(spec.artifact.format, runtimes, request.workload.threads, request.workload.batches, spec.signature,
                      parse_precisions(request.workload.precisions))
    if request.target.platform:
        drop_for_platform(candidates, request.target.platform)
    compress = None  # the compression axis (compress/hooks.py): compressed artifacts as more candidates
    if request.compression.compressions:
        compress = compress_hooks.setup(request, spec, data, reference, artifacts_root)
        candidates += compress_hooks.candidates(request, runtimes, compress, notify)
    total = len(candidates) * (len(fleet.launchers) if fleet else 1)
    store.set_expected_rows(run.id, total)
    notify("start", {"run_id": run.id, "total": total, "resumed": len(done)})
    conversions: dict[tuple, Any] = {}
    rows = []
    if fleet:
        rows += fleet.sweep(candidates, done, run_dir, notify,
                            convert=lambda c: _convert_for(c, request, spec, artifacts_root, conversions, inputs_path, run_dir),
                            measure_one=lambda c, device_dir: _measure_candidate(
                                c, request, spec, data, reference, inputs_path, device_dir, artifacts_root, conversions, compress,
                                ref_dir=run_dir),
                            save=lambda row: store.save_candidate(run.id, to_db(row)))
    # Follow-ups (e.g. INT8 with its most sensitive layers back in float) are generated lazily from the rows so far.
    follow_ups = compress_hooks.follow_up(rows, compress, request, notify) if compress and not fleet else ()
    for cand in itertools.chain(candidates, follow_ups) if not fleet else ():
        if cand.key in done:
            rows.append(done[cand.key])
            notify("reused", {"key": cand.key})
            continue
        notify("measuring", {"key": cand.key})
        row = _measure_candidate(cand, request, spec, data, reference, inputs_path, run_dir, artifacts_root, conversions,
                                 compress)
        if row.get("reason"):  # runtimes' own messages may span lines; a reason is one line in every output
            row["reason"] = " ".join(row["reason"].split())
        store.save_candidate(run.id, to_db(row))
        rows.append(row)
        notify("measured", {"key": cand.key, "status": row["status"]})
    for row in (fleet.after_sweep if fleet else rigor.after_sweep)(rows, spec, artifacts_root, run_dir, inputs_path, request,
                                 lambda rs: pick(rs, request.selection_settings(), ref_accuracy)[0], notify):
        store.save_candidate(run.id, to_db(row))
    compress_summary = compress_hooks.finish(rows, compress) if compress else None
    for row in rows if compress else ():
        if (row.get("compression") or {}).get("int8_flag"):  # the flag's outcome is known only now
            store.save_candidate(run.id, to_db(row))
    for row in precision_outcomes(rows):  # BF16/FP16 rows: the measured speed against their FP32 twin
        store.save_candidate(run.id, to_db(row))
    chosen, reasons = pick(rows, request.selection_settings(), ref_accuracy)
    devices = fleet.summary(rows, request.selection_settings(), ref_accuracy) if fleet else {}
    if fleet:  # one pick per device (select/devices.py); there is no single pick across devices
        from edgepick.select.devices import pick_per_device

        chosen, reasons, _ = pick_per_device(rows, request.selection_settings(), ref_accuracy)
        fleet.close()
    store.finish_run(run.id, chosen["key"] if chosen else None, {"selection": request.selection_settings(),
                                                                  "reference": ref_label, "reference_accuracy": ref_accuracy,
                                                                  **({"compression": compress_summary} if compress else {}),
                                                                  **devices})
    return Run(run.id, spec.name, spec.content_hash, store.get_run(run.id).request, run.fingerprint, rows,
               chosen, reasons, {"reference": ref_label, "reference_accuracy": ref_accuracy, "data": data.source,
                                 **({"compression": compress_summary} if compress_summary else {}), **devices})


def _open_fleet(request: Settings):
    if not request.target.on:
        return None  # the local launcher; Ray is never imported
    from edgepick.sweep_fleet import Fleet

    return Fleet.open(request.target.on, request.target.cluster)


def _convert_for(cand: Candidate, request, spec, artifacts_root, conversions, inputs_path, ref_dir):
    """The candidate's converted artifact and steps, or the CandidateFailure that stopped it; once per path."""
    path_key = (tuple(cand.path), cand.key if cand.compression else None)
    if path_key not in conversions:
        try:
            if cand.compression:
                conversions[path_key] = compress_hooks.convert(cand, spec, artifacts_root)
            else:
                # converters read user files and run user models: in a capped worker, like the candidates
                conversions[path_key] = convert_isolated(cand.path, spec, artifacts_root, inputs_path, ref_dir, request)
        except errors.CandidateFailure as failure:
            conversions[path_key] = failure
    return conversions[path_key]


def _measure_candidate(cand: Candidate, request, spec, data, reference, inputs_path, run_dir, artifacts_root,
                       conversions, compress=None, ref_dir=None) -> CandidateRow:
    """One row. `ref_dir` holds the reference outputs (the run's folder; a fleet device measures under its own)."""
    row: CandidateRow = {"key": cand.key, "runtime": cand.runtime, "precision": cand.precision, "threads": cand.threads,
           "batch": cand.batch, "status": "failed", "reason_class": None, "reason": None, "conversion": [],
           "cores": _cores_for(request, cand.threads)}
    if cand.compression:
        row["compression"] = cand.record
    if cand.precision_support:
        row["precision_support"] = cand.precision_support
    if cand.blocked:
        row["reason_class"], row["reason"] = cand.blocked
        return row
    converted = _convert_for(cand, request, spec, artifacts_root, conversions, inputs_path, ref_dir or run_dir)
    if isinstance(converted, errors.CandidateFailure):
        row["reason_class"], row["reason"] = converted.reason_class, converted.message
        return row
    artifact, steps = converted
    row["conversion"] = steps
    row["artifact"] = {"format": artifact.format, "path": artifact.path}
    size = artifact.size_bytes()
    row["size_mb"] = size / 2**20 if size is not None else None
    job = {"runtime": cand.runtime, "artifact": artifact.to_dict(), "threads": cand.threads, "batch": cand.batch,
           "cores": row["cores"], "inputs": str(inputs_path), "timing": request.time.policy.to_dict()}
    if not cand.compression:  # the precision the runtime computes in (a compressed artifact carries its own); in the
        job["artifact"]["meta"]["run_precision"] = cand.precision  # artifact, so repeats and interleaved windows keep it
    if request.rigor.realtime:  # the frame loop runs in the worker; the background load (if any) around the whole worker
        job["realtime"] = dict(request.rigor.realtime, data_source=data.source)
    from edgepick.measure.background import measured_under_load

    workdir = run_dir / cand.key.replace("/", "_")

    def measure(job_now: dict) -> dict:
        return measured_under_load(request.rigor.realtime, row["cores"], lambda: rigor.run_measured(job_now, workdir, request))

    result = measure(job)
    if not cand.compression:  # a runtime that refused an ONNX graph gets it once more with its shape subgraphs folded
        def with_precision(art) -> dict:
            d = art.to_dict()
            d["meta"] = {**d.get("meta", {}), "run_precision": cand.precision}
            return d

        artifact, steps, result = static_graph.retry_measurement(
            result, artifact, steps, cand.path, spec.signature, artifacts_root,
            lambda simple: measure({**job, "artifact": with_precision(simple)}))
        row["conversion"], row["artifact"] = steps, {"format": artifact.format, "path": artifact.path}
        job["artifact"] = with_precision(artifact)
    row["realtime"] = result.get("realtime")
    rigor.copy_into_row(row, result, job)
    for name in ("import_s", "load_s", "compile_s", "first_inference_ms", "latency_ms", "throughput_per_s", "peak_rss_mb",
                 "baseline_rss_mb", "warmup_calls", "memory_cap", "worker_wall_s", "latency_samples_ms", "runtime_details"):
        row[name] = result.get(name)
    if row["peak_rss_mb"] is not None and row["baseline_rss_mb"] is not None:
        row["rss_above_baseline_mb"] = row["peak_rss_mb"] - row["baseline_rss_mb"]
    if result["status"] != "ok":
        row["reason_class"], row["reason"] = result["reason_class"], result["reason"]
        return row
    with np.load(result_outputs(run_dir, cand)) as f:
        outputs = [f[k] for k in f.files]
    eq = compare(reference, outputs, request.workload.tolerance)
    row["equivalence"] = {k: eq.get(k) for k in ("max_abs_err", "max_rel_err", "cosine", "top1_agreement")}
    if request.workload.tolerance.source:
        row["equivalence"]["tolerance"] = request.workload.tolerance.source
    if data.labels is not None:
        row["accuracy"] = accuracy_top1(outputs[0], data.labels)
    if compress is not None and compress_hooks.decide(row, cand, outputs, compress):
        return row  # a compressed row passes or fails on the accuracy drop, not on FP32 closeness
    if cand.precision in REDUCED_PRECISIONS and not cand.compression:
        judge_precision(row, outputs, reference, data.labels, request)
        return row  # so does a BF16/FP16 row (precision.py)
    if eq["agrees"]:
        row["status"] = "ok"
    else:
        row["status"], row["reason_class"], row["reason"] = "disagrees", errors.DISAGREES, eq["why"] + blame(steps)
    return row


def result_outputs(run_dir: Path, cand: Candidate) -> Path:
    return run_dir / cand.key.replace("/", "_") / "outputs.npz"
