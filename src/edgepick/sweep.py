"""One run, end to end: model -> plan -> convert -> launch/measure -> compare -> store -> pick."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepick import __version__, errors, paths
from edgepick.compress import hooks as compress_hooks
from edgepick.convert import static as static_graph
from edgepick.convert.stepcheck import blame
from edgepick.data import arrays_sha256
from edgepick.fingerprint import fingerprint
from edgepick.launch.isolated import convert_isolated, eval_data_isolated, load_model_isolated, reference_isolated
from edgepick.measure import rigor
from edgepick.measure.equivalence import Tolerance, accuracy_top1, compare, for_quantized_source
from edgepick.measure.latency import TimingPolicy
from edgepick.model import export_module
from edgepick.planner import Candidate, drop_for_platform, plan, resolve_runtimes
from edgepick.precision import REDUCED as REDUCED_PRECISIONS
from edgepick.precision import judge as judge_precision
from edgepick.precision import outcomes as precision_outcomes
from edgepick.precision import parse_precisions
from edgepick.result import Run, row_from_db
from edgepick.select.budget import parse_budget, parse_objective
from edgepick.select.explain import settings_of
from edgepick.select.pick import pick
from edgepick.signature import apply_shapes, parse_input_shapes, parse_input_values, require_resolved
from edgepick.store.db import Store
from edgepick.validate import check_request


@dataclass
class Request:
    model: Any
    runtimes: list[str] | None = None
    threads: list[int] = field(default_factory=lambda: [min(2, len(os.sched_getaffinity(0)))])
    batches: list[int] = field(default_factory=lambda: [1])
    input_shape: str | None = None
    data: Any = None
    data_limit: int = 512
    memory_limit: int | None = None
    memory_mechanism: str = "auto"
    timeout_s: float = 300.0
    timing: TimingPolicy = field(default_factory=TimingPolicy)
    tolerance: Tolerance = field(default_factory=Tolerance)
    trust_pickle: bool = False
    force: bool = False
    cores: list[int] | None = None
    db_url: str | None = None
    budget: str | None = None  # "p90<=15ms,mem<=300MB,..." (select/budget.py); selection only, not in the request key
    optimize: str | None = None  # "latency" or weights "latency=0.7,size=0.3"
    device: dict | None = None  # a DeviceProfile.to_dict(); its cores/threads/memory cap are applied by the CLI/API
    platform: str | None = None  # "android-arm64": runtimes the capability matrix rules out become 'platform' rows
    scenario: dict | None = None  # LoadGenSettings.to_dict() (measure/loadgen.py): an MLPerf scenario after the steady state
    profile_runs: int = 0  # per-op profile over this many inferences (measure/profile.py); 0 = off
    cold_start: int = 0  # fresh-process cold starts per candidate (measure/coldstart.py); 0 = off
    noise_retry: bool = True  # re-measure a noisy row once with a longer steady state (measure/noise.py)
    interleave: int = 0  # A B A B rounds between the pick and candidates tied with it; 0 = off
    repeats: int = 1  # fresh-process windows per ok candidate; >1 gives a between-process CI (measure/repeats.py)
    compressions: list[str] | None = None  # e.g. ["int8-dynamic", "int8-static", "fp16", "prune"] (compress/plan.py)
    max_acc_drop: str | None = None  # "1%" relative (the default) or "0.01abs"; compressed rows must stay within it
    metric: str | None = None  # top1 | top5 | cosine | mse | module:function (default top1 with labels, else cosine)
    calib: Any = None  # calibration data (same forms as data); default a fixed-seed subset of the eval data
    calib_size: int = 128
    train_data: Any = None  # for pruning's fine-tuning and distillation; zoo models bring their own train split
    realtime: dict | None = None  # RealtimeSettings.to_dict() (measure/frameloop.py): frame loop, deadlines, load
    precisions: Any = None  # "fp32,bf16" or a list; None: FP32 plus the reduced precisions this CPU has natively
    input_values: Any = None  # fixed input values: {"sr": 16000}, "sr=16000" or ["sr=16000", ...] (signature.py)
    no_batch_axis: bool = False  # the first dims are not a batch (x [T, F]): one whole input set per call, batch 1
    on: str | None = None  # measure on these devices of a Ray cluster: "dev-a,dev-b" or "class=pi5" (sweep_fleet.py)
    cluster: str | None = None  # the Ray head's HOST:PORT for --on (default RAY_ADDRESS or `edgepick cluster start`'s)
    step_timeout_s: float | None = None  # load/inputs/reference/conversion/compression workers; default timeout_s
    step_memory_limit: int | None = None  # their memory cap; default memory_limit (launch/isolated.step_limits)


Progress = Callable[[str, dict], None]


def _cores_for(request: Request, threads: int) -> list[int]:
    """Pin each worker to as many cores as it has threads: the user's list, or the first usable ones."""
    pool = request.cores or sorted(os.sched_getaffinity(0))
    return pool[: max(1, threads)]


def _request_key(request: Request, spec, runtimes: list[str], inputs_digest: str) -> tuple[str, dict]:
    described = {
        "model_hash": spec.content_hash,
        "runtimes": runtimes,
        "threads": request.threads,
        "batches": request.batches,
        "signature": spec.signature.to_dict(),
        "eval_inputs_sha256": inputs_digest,
        "memory_limit": request.memory_limit,
        "cores": request.cores,
        "timing": request.timing.to_dict(),
        "tolerance": request.tolerance.to_dict(),
        "edgepick": __version__,
    }
    if request.platform:
        described["platform"] = request.platform
    if rigor.key_settings(request):
        described["rigor"] = rigor.key_settings(request)
    if request.compressions:
        described["compress"] = compress_hooks.key_settings(request)
    if request.realtime:
        described["realtime"] = request.realtime
    if request.precisions:
        described["precisions"] = parse_precisions(request.precisions)
    if request.on:  # a fleet run is its own run: resuming it measures only the devices' missing rows
        described["on"] = request.on
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest(), described


def execute(request: Request, progress: Progress | None = None) -> Run:
    notify = progress or (lambda kind, info: None)
    check_request(request)  # threads vs cores, --cores ids, --timeout, --max-acc-drop: one line before any work
    for value in [*request.threads, *request.batches]:
        if value < 1:
            raise errors.UserError("--threads and --batch take positive integers, e.g. --threads 1,2 --batch 1,8")
    parse_budget(request.budget), parse_objective(request.optimize)  # a malformed budget stops the run before any work
    parse_precisions(request.precisions)
    if request.platform:
        from edgepick.capabilities import parse_platform

        parse_platform(request.platform)
    home = paths.home()
    spec = load_model_isolated(request)  # the user's file or factory is parsed/called in a capped worker
    apply_shapes(spec.signature, parse_input_shapes(request.input_shape))
    parse_input_values(request.input_values, spec.signature)
    spec.signature.whole = spec.signature.whole or request.no_batch_axis
    data = eval_data_isolated(spec, request)  # the user's data callable / synthesis run in a capped worker
    require_resolved(spec.signature)
    if request.compressions and spec.signature.whole_feeds:  # calibration and search batch the eval samples
        raise errors.UserError("--compress needs a model with a batch axis; this one has none (a scalar input, or "
                               "inputs whose leading dims differ) and is fed one whole input set per call")
    if spec.is_torch:  # a module's inputs are named by --input-shape: the workers feed them in that order
        spec.artifact.meta["input_names"] = spec.signature.names
    fleet = _open_fleet(request)  # --on: devices of a Ray cluster measure, in parallel (sweep_fleet.py)
    runtimes = resolve_runtimes(request.runtimes)
    artifacts_root = home / "artifacts" / spec.content_hash[:16]
    artifacts_root.mkdir(parents=True, exist_ok=True)
    if spec.artifact.format == "torch-module":
        export_module(spec, artifacts_root)

    store = Store(request.db_url or paths.default_db_url())
    key, described = _request_key(request, spec, runtimes, arrays_sha256(data.inputs))
    run = None if request.force else store.find_resumable(key)
    done = {c.key: row_from_db(c) for c in run.candidates} if run else {}
    if run is None:
        described |= {"model": spec.name, "input_format": spec.artifact.format, "data_source": data.source,
                      "eval_samples": data.count}
        run = store.create_run(key, spec.name, spec.content_hash, described, fingerprint(spec.content_hash))
    run_dir = home / "runs" / run.id
    run_dir.mkdir(parents=True, exist_ok=True)
    inputs_path = run_dir / "eval_inputs.npz"
    data.save(inputs_path)
    try:  # the user's model runs in a capped worker; without a reference nothing can be compared, so the run stops
        ref_label, reference = reference_isolated(spec, inputs_path, run_dir, max(request.threads), request)
    except errors.UserError as e:
        store.fail_run(run.id, str(e))
        raise
    source_tolerance = for_quantized_source(spec.artifact, request.tolerance, reference)
    if source_tolerance is not request.tolerance:  # an INT8 source is judged in steps of its output scale
        request = dataclasses.replace(request, tolerance=source_tolerance)
    ref_accuracy = accuracy_top1(reference[0], data.labels) if data.labels is not None else None

    candidates = plan(spec.artifact.format, runtimes, request.threads, request.batches, spec.signature,
                      parse_precisions(request.precisions))
    if request.platform:
        drop_for_platform(candidates, request.platform)
    compress = None  # the compression axis (compress/hooks.py): compressed artifacts as more candidates
    if request.compressions:
        try:  # calibration/training data and a --metric callable are read in a capped worker; without them, no run
            compress = compress_hooks.setup(request, spec, data, reference, artifacts_root)
        except errors.UserError as e:
            store.fail_run(run.id, str(e))
            raise
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
                            save=lambda row: store.save_candidate(run.id, _db_fields(row)))
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
        store.save_candidate(run.id, _db_fields(row))
        rows.append(row)
        notify("measured", {"key": cand.key, "status": row["status"]})
    for row in (fleet.after_sweep if fleet else rigor.after_sweep)(rows, spec, artifacts_root, run_dir, inputs_path, request,
                                 lambda rs: pick(rs, settings_of(request), ref_accuracy)[0], notify):
        store.save_candidate(run.id, _db_fields(row))
    compress_summary = compress_hooks.finish(rows, compress) if compress else None
    for row in rows if compress else ():
        if (row.get("compression") or {}).get("int8_flag"):  # the flag's outcome is known only now
            store.save_candidate(run.id, _db_fields(row))
    for row in precision_outcomes(rows):  # BF16/FP16 rows: the measured speed against their FP32 twin
        store.save_candidate(run.id, _db_fields(row))
    chosen, reasons = pick(rows, settings_of(request), ref_accuracy)
    devices = fleet.summary(rows, settings_of(request), ref_accuracy) if fleet else {}
    if fleet:  # one pick per device (select/devices.py); there is no single pick across devices
        from edgepick.select.devices import pick_per_device

        chosen, reasons, _ = pick_per_device(rows, settings_of(request), ref_accuracy)
        fleet.close()
    store.finish_run(run.id, chosen["key"] if chosen else None, {"selection": settings_of(request),
                                                                  "reference": ref_label, "reference_accuracy": ref_accuracy,
                                                                  **({"compression": compress_summary} if compress else {}),
                                                                  **devices})
    return Run(run.id, spec.name, spec.content_hash, store.get_run(run.id).request, run.fingerprint, rows,
               chosen, reasons, {"reference": ref_label, "reference_accuracy": ref_accuracy, "data": data.source,
                                 **({"compression": compress_summary} if compress_summary else {}), **devices})


def _open_fleet(request: Request):
    if not request.on:
        return None  # the local launcher; Ray is never imported
    from edgepick.sweep_fleet import Fleet

    return Fleet.open(request.on, request.cluster)


def _convert_for(cand: Candidate, request, spec, artifacts_root, conversions, inputs_path, ref_dir):
    """The candidate's converted artifact and steps, or the CandidateFailure that stopped it; once per path."""
    path_key = (tuple(cand.path), cand.key if cand.compression else None)
    if path_key not in conversions:
        try:
            if cand.compression:
                conversions[path_key] = compress_hooks.convert(cand, spec, artifacts_root, request, ref_dir)
            else:
                # converters read user files and run user models: in a capped worker, like the candidates
                conversions[path_key] = convert_isolated(cand.path, spec, artifacts_root, inputs_path, ref_dir, request)
        except errors.CandidateFailure as failure:
            conversions[path_key] = failure
    return conversions[path_key]


def _measure_candidate(cand: Candidate, request, spec, data, reference, inputs_path, run_dir, artifacts_root,
                       conversions, compress=None, ref_dir=None) -> dict:
    """One row. `ref_dir` holds the reference outputs (the run's folder; a fleet device measures under its own)."""
    row = {"key": cand.key, "runtime": cand.runtime, "precision": cand.precision, "threads": cand.threads,
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
           "cores": row["cores"], "inputs": str(inputs_path), "timing": request.timing.to_dict()}
    if not cand.compression:  # the precision the runtime computes in (a compressed artifact carries its own); in the
        job["artifact"]["meta"]["run_precision"] = cand.precision  # artifact, so repeats and interleaved windows keep it
    if request.realtime:  # the frame loop runs in the worker; the background load (if any) around the whole worker
        job["realtime"] = dict(request.realtime, data_source=data.source)
    from edgepick.measure.background import measured_under_load

    workdir = run_dir / cand.key.replace("/", "_")

    def measure(job_now: dict) -> dict:
        return measured_under_load(request.realtime, row["cores"], lambda: rigor.run_measured(job_now, workdir, request))

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
    eq = compare(reference, outputs, request.tolerance)
    row["equivalence"] = {k: eq.get(k) for k in ("max_abs_err", "max_rel_err", "cosine", "top1_agreement")}
    if request.tolerance.source:
        row["equivalence"]["tolerance"] = request.tolerance.source
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


_COLUMNS = ("key", "runtime", "precision", "threads", "batch", "status", "reason_class", "reason")


def _db_fields(row: dict) -> dict:
    fields = {k: row[k] for k in _COLUMNS}
    fields["latency_samples_ms"] = row.get("latency_samples_ms")
    fields["metrics"] = {k: v for k, v in row.items() if k not in _COLUMNS and k != "latency_samples_ms"}
    return fields
