"""One run, end to end: model -> plan -> convert -> launch/measure -> compare -> store -> pick."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgepick.compress import sweep_axis as compress_hooks
from edgepick.convert import static as static_graph
from edgepick.core import errors, paths
from edgepick.core.fingerprint import fingerprint
from edgepick.core.job import copy_measured
from edgepick.core.rows import CandidateRow, from_db, to_db
from edgepick.core.version import __version__
from edgepick.inputs.data import arrays_sha256
from edgepick.inputs.model import export_module
from edgepick.inputs.signature import apply_shapes, parse_input_shapes, parse_input_values, require_resolved
from edgepick.launch.isolated import (
    convert_isolated,
    eval_data_isolated,
    load_model_isolated,
    reference_isolated,
    simplify_isolated,
)
from edgepick.measure.equivalence import accuracy_top1, for_quantized_source, weak_outputs
from edgepick.measure.verdicts import reconcile as reconcile_verdicts
from edgepick.plan.planner import Candidate, drop_for_platform, plan, prefetch, resolve_runtimes
from edgepick.plan.precision import outcomes as precision_outcomes
from edgepick.plan.precision import parse_precisions
from edgepick.rigor import run as rigor
from edgepick.select.decision import decide
from edgepick.select.pick import pick
from edgepick.store.db import Store
from edgepick.store.result import Run
from edgepick.sweep import racing, search, static_compile
from edgepick.sweep.judge import judge, near_constant_warning
from edgepick.sweep.settings import Settings

# The flat constructor tests, benchmarks and edgepick.pick() use: Request(model=..., threads=[1], budget=...).
Request = Settings.of


Progress = Callable[[str, dict], None]


def _cores_for(request: Settings, threads: int) -> list[int]:
    """Pin each worker to as many cores as it has threads: the user's list, or the first usable ones."""
    return search.allowed_cores(request)[: max(1, threads)]


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
    if request.search.key():  # the default search prunes; --exhaustive keeps the key of every run before it
        described["search"] = request.search.key()
    if request.target.on:  # a fleet run is its own run: resuming it measures only the devices' missing rows
        described["on"] = request.target.on
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest(), described


def execute(request: Settings, progress: Progress | None = None) -> Run:
    notify = progress or (lambda kind, info: None)
    request.check()  # each part validated its values when built; threads against cores once more after a device
    # The planner's slow look-ups (TVM's import probe, the host's CPU flags) run while the model loads (issue 23)
    ahead = prefetch(request.workload.runtimes)
    spec, data = _load(request)
    fleet = _open_fleet(request)  # --on: devices of a Ray cluster measure, in parallel (sweep/fleet.py)
    runtimes = resolve_runtimes(request.workload.runtimes)
    artifacts_root = paths.home() / "artifacts" / spec.content_hash[:16]
    artifacts_root.mkdir(parents=True, exist_ok=True)
    if spec.artifact.format == "torch-module":
        export_module(spec, artifacts_root)
    ahead.host.join()  # the run's fingerprint reads the CPU description: once, not a second py-cpuinfo beside it
    sw = _open_run(request, spec, data, runtimes, artifacts_root, notify)
    sw.fleet = fleet
    candidates = sw.plan(runtimes)
    ahead.wait()  # a probe plan() did not ask for has finished too: nothing of it runs beside a measurement
    total = len(candidates) * (len(fleet.launchers) if fleet else 1)
    sw.store.set_expected_rows(sw.run.id, total)
    notify("start", {"run_id": sw.run.id, "total": total, "resumed": len(sw.done)})
    if fleet:
        sw.sweep_on_fleet(candidates)
    else:
        sw.sweep_locally(candidates)
    return sw.finish()


def _load(request: Settings):
    """The model with its signature resolved, and the eval data (made in a capped worker): errors before any run."""
    w = request.workload
    spec = load_model_isolated(request)  # the user's file or factory is parsed/called in a capped worker
    apply_shapes(spec.signature, parse_input_shapes(w.input_shape))
    parse_input_values(w.input_values, spec.signature)
    spec.signature.whole = spec.signature.whole or w.no_batch_axis
    data = eval_data_isolated(spec, request)  # the user's data callable / synthesis run in a capped worker
    require_resolved(spec.signature)
    if request.compression.compressions and spec.signature.whole_feeds:  # calibration and search batch the eval samples
        raise errors.UserError("--compress needs a model with a batch axis; this one has none (a scalar input, or "
                               "inputs whose leading dims differ) and is fed one whole input set per call")
    if spec.is_torch:  # a module's inputs are named by --input-shape: the workers feed them in that order
        spec.artifact.meta["input_names"] = spec.signature.names
    return spec, data


def _open_run(request: Settings, spec, data, runtimes: list[str], artifacts_root: Path, notify) -> _Sweep:
    """The stored run (a resumable one's rows reused), the eval inputs on disk and the reference outputs."""
    store = Store(request.db_url or paths.default_db_url())
    key, described = _request_key(request, spec, runtimes, arrays_sha256(data.inputs))
    run = None if request.force else store.find_resumable(key)
    done = {c.key: from_db(c) for c in run.candidates} if run else {}
    if run is None:
        described |= {"model": spec.name, "input_format": spec.artifact.format, "data_source": data.source,
                      "eval_samples": data.count}
        run = store.create_run(key, spec.name, spec.content_hash, described, fingerprint(spec.content_hash))
    run_dir = paths.home() / "runs" / run.id
    run_dir.mkdir(parents=True, exist_ok=True)
    inputs_path = run_dir / "eval_inputs.npz"
    data.save(inputs_path)
    try:  # the user's model runs in a capped worker; without a reference nothing can be compared, so the run stops
        ref_label, reference = reference_isolated(spec, inputs_path, run_dir, max(request.workload.threads), request)
    except errors.UserError as e:
        store.fail_run(run.id, str(e))
        raise
    weak = weak_outputs(reference, request.workload.tolerance)
    if weak:  # the check would judge noise: say so with the run, beside where the data came from
        data.source += "; " + near_constant_warning(data.source, weak)
    source_tolerance = for_quantized_source(spec.artifact, request.workload.tolerance, reference)
    if source_tolerance is not request.workload.tolerance:  # an INT8 source is judged in steps of its output scale
        request = request.replace("workload", tolerance=source_tolerance)
    ref_accuracy = accuracy_top1(reference[0], data.labels) if data.labels is not None else None
    return _Sweep(request, spec, data, store, run, done, run_dir, inputs_path, artifacts_root, ref_label, reference,
                  ref_accuracy, notify)


@dataclass
class _Sweep:
    """One sweep's context once its run is open: what measuring, saving and picking a row need."""

    request: Settings
    spec: Any
    data: Any
    store: Store
    run: Any
    done: dict[str, CandidateRow]  # rows of a resumed run, by key
    run_dir: Path
    inputs_path: Path
    artifacts_root: Path
    ref_label: str
    reference: list
    ref_accuracy: float | None
    notify: Progress
    fleet: Any = None
    compress: Any = None  # the compression axis (compress/sweep_axis.py): compressed artifacts as more candidates
    rows: list[CandidateRow] = field(default_factory=list)
    conversions: dict[tuple, Any] = field(default_factory=dict)
    race: Any = None  # the search's bar (sweep/search.py), set by its first round

    def save(self, row: CandidateRow) -> None:
        self.store.save_candidate(self.run.id, to_db(row))

    def plan(self, runtimes: list[str]) -> list[Candidate]:
        r = self.request
        candidates = plan(self.spec.artifact.format, runtimes, r.workload.threads, r.workload.batches,
                          self.spec.signature, parse_precisions(r.workload.precisions))
        if r.target.platform:
            drop_for_platform(candidates, r.target.platform)
        if r.compression.compressions:
            try:  # calibration/training data and a --metric callable are read in a capped worker; without them, no run
                self.compress = compress_hooks.setup(r, self.spec, self.data, self.reference, self.artifacts_root)
            except errors.UserError as e:
                self.store.fail_run(self.run.id, str(e))
                raise
            candidates += compress_hooks.candidates(r, runtimes, self.compress, self.notify)
        return candidates

    def sweep_locally(self, candidates: list[Candidate]) -> None:
        """Every candidate in turn; then the compression follow-ups (e.g. INT8 with its most sensitive layers back in
        float), asked for round by round with the rows measured so far."""
        self._measure_each(candidates)
        while self.compress is not None and (more := compress_hooks.follow_up(self.rows, self.compress, self.request,
                                                                               self.notify)):
            self._measure_each(more)

    def sweep_on_fleet(self, candidates: list[Candidate]) -> None:
        """Every candidate on every device, rows stored as they arrive from any device; then the compression
        follow-ups, each round on every device. The search finds its rows by label, so arrival order does not matter;
        the sensitivity ranking is computed once, on the head, on the same model."""
        more = candidates
        while more:
            self.rows += self.fleet.sweep(more, self.done, self.run_dir, self.notify, self.request,
                                          convert=lambda c: self.convert(c, self.run_dir),
                                          measure_one=lambda c, device_dir: self.measure(c, device_dir, ref_dir=self.run_dir),
                                          save=self.save)
            more = compress_hooks.follow_up(self.rows, self.compress, self.request, self.notify) if self.compress else []

    def _measure_each(self, candidates: list[Candidate]) -> None:
        search.measure_all(self, candidates)  # probes, pruning, conversions ahead, likely winners first

    def finish(self) -> Run:
        """The passes over all rows (rigor, compression summary, precision outcomes), the pick, the stored run."""
        rows, settings, ref_accuracy = self.rows, self.request.selection_settings(), self.ref_accuracy
        passes = self.fleet.after_sweep if self.fleet else rigor.after_sweep
        for row in passes(rows, self.spec, self.artifacts_root, self.run_dir, self.inputs_path, self.request,
                          lambda rs: pick(rs, settings, ref_accuracy)[0], self.notify):
            self.save(row)
        compress_summary = compress_hooks.finish(rows, self.compress) if self.compress else None
        for row in rows if self.compress else ():
            if (row.get("compression") or {}).get("int8_flag"):  # the flag's outcome is known only now
                self.save(row)
        for row in precision_outcomes(rows) + reconcile_verdicts(rows):  # BF16/FP16 rows against their FP32 twin:
            self.save(row)  # speed, and one verdict rule across precisions (measure/verdicts.py)
        decision = decide(rows, settings, ref_accuracy, fleet=bool(self.fleet))  # select/ decides, the store keeps it
        devices = self.fleet.summary(rows, settings, ref_accuracy) if self.fleet else {}
        if self.fleet:
            self.fleet.close()
        context = {"reference": self.ref_label, "reference_accuracy": ref_accuracy, "search_outcome": search.summary(self)}
        self.store.finish_run(self.run.id, decision["pick"], {
            "selection": settings, **context, "data_source": self.data.source,  # with a near-constant warning, if any
            **({"compression": compress_summary} if self.compress else {}), **devices, "decision": decision})
        return Run(self.run.id, self.spec.name, self.spec.content_hash, self.store.get_run(self.run.id).request,
                   self.run.fingerprint, rows, decision,
                   {**context, "data": self.data.source,
                    **({"compression": compress_summary} if compress_summary else {}), **devices})

    def convert(self, cand: Candidate, ref_dir: Path):
        """The candidate's converted artifact and steps, or the CandidateFailure that stopped it; once per path."""
        path_key = (tuple(cand.path), cand.key if cand.compression else None)
        if path_key not in self.conversions:
            try:
                if cand.compression:
                    self.conversions[path_key] = compress_hooks.convert(cand, self.spec, self.artifacts_root, self.request,
                                                                         ref_dir)
                else:  # converters read user files and run user models: in a capped worker, like the candidates
                    self.conversions[path_key] = convert_isolated(cand.path, self.spec, self.artifacts_root,
                                                                  self.inputs_path, ref_dir, self.request)
            except errors.CandidateFailure as failure:
                self.conversions[path_key] = failure
        return self.conversions[path_key]

    def measure(self, cand: Candidate, run_dir: Path, ref_dir: Path | None = None) -> CandidateRow:
        """One row. `ref_dir` holds the reference outputs (the run's folder; a fleet device measures under its own)."""
        row = _new_row(cand, _cores_for(self.request, cand.threads))
        if cand.blocked:
            row["reason_class"], row["reason"] = cand.blocked
            return row
        converted = self.convert(cand, ref_dir or run_dir)
        if isinstance(converted, errors.CandidateFailure):
            row["reason_class"], row["reason"] = converted.reason_class, converted.message
            if converted.reason_class == errors.DISAGREES:  # a preparation step changed the model (convert/static.py)
                row["status"] = "disagrees"
            return row
        compiles_static = cand.runtime in static_compile.STATIC_COMPILERS
        self._measure_converted(cand, row, *converted, run_dir, simplify=not compiles_static)
        what = static_compile.described(row)
        if what:  # the runtime compiled for static shapes: checked like a conversion, the dynamic graph to fall back on
            again = self._measure_converted(cand, _new_row(cand, row["cores"]), static_compile.dynamic(converted[0]),
                                            converted[1], run_dir)
            row = static_compile.settle(row, again, what)
        elif compiles_static and row["status"] == "failed":  # not the compile's doing: the usual simplified retry
            row = self._measure_converted(cand, _new_row(cand, row["cores"]), *converted, run_dir)
        return row

    def _measure_converted(self, cand: Candidate, row: CandidateRow, artifact, steps, run_dir: Path,
                           simplify: bool = True) -> CandidateRow:
        """Measure one artifact into `row` and judge it; `simplify`: a refused ONNX graph is retried simplified."""
        result, steps = self._run_worker(cand, row, artifact, steps, run_dir, simplify)
        if result["status"] != "ok":
            row["reason_class"], row["reason"] = result["reason_class"], result["reason"]
            if result["reason_class"] == errors.DISAGREES:  # the preparation step changed the model (convert/static.py)
                row["status"] = "disagrees"
            return row
        with np.load(result_outputs(run_dir, cand)) as f:
            outputs = [f[k] for k in f.files]
        self._judge(cand, row, outputs, steps)
        return row

    def _run_worker(self, cand: Candidate, row: CandidateRow, artifact, steps, run_dir: Path,
                    simplify: bool = True) -> tuple[dict, list]:
        """Measure the converted artifact in a worker (once more on the folded graph if the runtime refused it);
        copy the worker's figures into the row (core/job.py says which)."""
        request = self.request
        row["conversion"], row["artifact"] = steps, {"format": artifact.format, "path": artifact.path}
        size = artifact.size_bytes()
        row["size_mb"] = size / 2**20 if size is not None else None
        job = self.worker_job(cand, artifact)
        race = racing.race_here(self)
        if race and race.enabled:  # the search's probe, and its deadline from the best probe so far
            job["probe"] = race.probe_job(cand)
            timeout_s = race.timeout_for(cand, request.time.timeout_s)
            request = request.replace("time", timeout_s=timeout_s) if timeout_s != request.time.timeout_s else request
        if request.rigor.realtime:  # the frame loop runs in the worker; the background load (if any) around it
            job["realtime"] = dict(request.rigor.realtime, data_source=self.data.source)
        from edgepick.rigor.background import measured_under_load

        workdir = work_dir(run_dir, cand)

        def measure(job_now: dict) -> dict:
            return measured_under_load(request.rigor.realtime, row["cores"],
                                       lambda: rigor.run_measured(job_now, workdir, request))

        result = measure(job)
        if simplify and not cand.compression:  # a runtime that refused an ONNX graph: once more with shapes folded
            artifact, steps, result = static_graph.retry_measurement(
                result, artifact, steps, cand.path, self.artifacts_root,
                lambda simple: measure({**job, "artifact": _with_precision(simple, cand)}),
                lambda source, step_dir, first: simplify_isolated(source, self.spec.signature, step_dir, first,
                                                                  self.inputs_path, self.run_dir, request))
            row["conversion"], row["artifact"] = steps, {"format": artifact.format, "path": artifact.path}
            job["artifact"] = _with_precision(artifact, cand)
        copy_measured(row, result)  # every figure core/job.py FIELDS declares for the row; an undeclared one is an error
        rigor.keep_job(row, job)
        if row["peak_rss_mb"] is not None and row["baseline_rss_mb"] is not None:
            row["rss_above_baseline_mb"] = row["peak_rss_mb"] - row["baseline_rss_mb"]
        return result, steps

    def worker_job(self, cand: Candidate, artifact) -> dict:
        """The measurement worker's job for `cand` on its converted artifact (the search adds its probe)."""
        return {"runtime": cand.runtime, "artifact": _with_precision(artifact, cand), "threads": cand.threads,
                "batch": cand.batch, "cores": _cores_for(self.request, cand.threads), "inputs": str(self.inputs_path),
                "timing": self.request.time.policy.to_dict()}

    def _judge(self, cand: Candidate, row: CandidateRow, outputs: list, steps: list) -> None:
        judge(row, cand, outputs, steps, self.reference, self.data.labels, self.request, self.compress)


_new_row, work_dir = search.new_row, search.work_dir


def _with_precision(artifact, cand: Candidate) -> dict:
    """The worker's artifact; uncompressed, with the precision the runtime computes in (a compressed artifact
    carries its own), in the artifact so repeats and interleaved windows keep it."""
    d = artifact.to_dict()
    if not cand.compression:
        d["meta"] = {**d.get("meta", {}), "run_precision": cand.precision}
    return d


def _open_fleet(request: Settings):
    if not request.target.on:
        return None  # the local launcher; Ray is never imported
    from edgepick.sweep.fleet import Fleet

    return Fleet.open(request.target.on, request.target.cluster)


def result_outputs(run_dir: Path, cand: Candidate) -> Path:
    return work_dir(run_dir, cand) / "outputs.npz"
