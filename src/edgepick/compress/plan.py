"""The compression axis of a sweep: which compressed artifacts to make, and the candidates that measure them.

Compression happens here, before any measuring, and is cached per model hash, configuration and calibration set
under $EDGEPICK_HOME/artifacts/<hash>/compress/<label>-<digest>/. Each compressed artifact then enters the sweep
as ordinary candidates (runtime x threads x batch), converted to the runtime's format if needed and measured by
the same isolated worker at the same timer boundary; accuracy is scored on that worker's outputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from edgepick.compress.base import CompressContext
from edgepick.compress.calib import CalibrationSet, calibration_set
from edgepick.compress.metrics import DropTolerance, parse_drop, resolve_metric
from edgepick.compress.setup import CompressSetup
from edgepick.convert.chain import convert_along
from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.core.errors import UserError
from edgepick.core.registry import COMPRESSORS, RUNTIMES
from edgepick.plan.formats import usable_path
from edgepick.plan.planner import Candidate


def parse_compressions(text: str | None) -> list[str] | None:
    if not text:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    return items or None


def expand(labels: list[str]) -> list[tuple[str, str, dict]]:
    """User labels -> (compressor name, concrete label, options), in order, without duplicates."""
    out, seen = [], set()
    for label in labels:
        found = False
        for name, cls in COMPRESSORS.all().items():
            if not (label == cls.family or label.startswith(cls.family + "-") or label == name):
                continue
            for concrete, options in cls.choices(label):
                found = True
                if (name, concrete) not in seen:
                    seen.add((name, concrete))
                    out.append((name, concrete, options))
        if not found:
            families = sorted({c.family for c in COMPRESSORS.all().values()})
            raise UserError(f"unknown compression '{label}'; known: {', '.join(families)} (see `edgepick compressors`)")
    return out


def _zoo_train(spec):
    """A zoo model's own training split (module:eval_set -> module:train_set), for fine-tuning and distillation."""
    if not spec.data_factory or not spec.data_factory.endswith(":eval_set"):
        return None
    import importlib

    module = importlib.import_module(spec.data_factory.split(":")[0])
    return module.train_set() if hasattr(module, "train_set") else None


def setup(request, spec, data, reference, artifacts_root: Path) -> CompressSetup:
    from edgepick.inputs.data import read_data_arg

    metric = resolve_metric(request.compression.metric, data.labels is not None)
    tolerance = parse_drop(request.compression.max_acc_drop)
    calib = calibration_set(request.compression.calib, data.inputs, data.source, spec.signature,
                            request.compression.calib_size)
    train = None
    if request.compression.train_data:
        x, y, _ = read_data_arg(request.compression.train_data, spec.signature, 10**9)
        train = (next(iter(x.values())), y)
    else:
        train = _zoo_train(spec)
    ref_score = metric.score(reference, data.labels, reference)
    return CompressSetup(metric, tolerance, calib, ref_score, train, spec, data, reference, artifacts_root,
                         max(request.workload.threads))


def _cache_dir(root: Path, name: str, label: str, options: dict, calib: CalibrationSet, tol: DropTolerance,
               metric: str) -> Path:
    """One directory per compressor, configuration and calibration set (two compressors may share a label: fp16)."""
    key = json.dumps({"o": options, "c": calib.sha256, "t": tol.to_dict(), "m": metric}, sort_keys=True, default=str)
    return root / "compress" / f"{name}--{label}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def produce(name: str, label: str, options: dict, cs: CompressSetup) -> tuple[Artifact, list[dict], dict]:
    """Convert the model to the compressor's input, compress (cached), return (artifact, steps, record)."""
    cls = COMPRESSORS.get(name)
    spec = cs.spec
    if not cls.is_available():
        raise errors.CandidateFailure(errors.NOT_INSTALLED, f"compressor {name} needs {cls.distribution}: {cls.install_hint()}")
    pre = usable_path(spec.artifact.format, cls.input_formats)
    if pre is None:
        raise errors.CandidateFailure(errors.CONVERSION_ERROR, f"{name} reads {'/'.join(cls.input_formats)}; no conversion "
                                      f"path from {spec.artifact.format}")
    source, steps = convert_along(pre, spec.artifact, spec.signature, cs.artifacts_root)
    out_dir = _cache_dir(cs.artifacts_root, name, label, options, cs.calibration, cs.tolerance, cs.metric.name)
    from filelock import FileLock

    # Another sweep of the same model may be compressing this very configuration: wait for it, then reuse its result,
    # instead of deleting its folder as "half-written" under its feet (the conversion cache does the same).
    with FileLock(str(out_dir) + ".lock"):
        return _produce_locked(cls, name, label, options, cs, source, steps, out_dir)


def _produce_locked(cls, name: str, label: str, options: dict, cs: CompressSetup, source: Artifact, steps: list[dict],
                    out_dir: Path) -> tuple[Artifact, list[dict], dict]:
    spec = cs.spec
    record_file = out_dir / "compressed.json"
    if record_file.exists():
        saved = json.loads(record_file.read_text())
        steps.append({"converter": f"compress:{label}", "seconds": saved["seconds"], "cached": True})
        return Artifact.from_dict(saved["artifact"]), steps, saved["record"]
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    ctx = CompressContext(spec.signature, out_dir, dict(options), cs.data.inputs, cs.data.labels, cs.reference,
                          cs.metric, cs.tolerance, cs.train, cs.threads)
    t0 = time.perf_counter()
    try:
        # Quantizers print progress to stdout (ORT's calibrators do); stdout is for --json, so send it to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            artifact = cls().apply(source, cs.calibration, ctx)
    except Exception as e:
        text = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        raise errors.CandidateFailure(errors.CONVERSION_ERROR, f"compression {label} failed: {type(e).__name__}: {text}") from e
    seconds = time.perf_counter() - t0
    record = {"label": label, "compressor": name, "options": options, "description": cls.description, **ctx.record}
    if cls.needs_calibration:
        record["calibration"] = cs.calibration.describe()
    record_file.write_text(json.dumps({"artifact": artifact.to_dict(), "seconds": seconds, "record": record}, default=str))
    steps.append({"converter": f"compress:{label}", "seconds": seconds, "cached": False})
    return artifact, steps, record


def _targets(cls, runtimes: list[str]) -> list[str]:
    return [r for r in runtimes if cls.runtimes is None or r in cls.runtimes]


def candidates(labels: list[str], runtimes: list[str], threads: list[int], batches: list[int], cs: CompressSetup,
               notify) -> list[Candidate]:
    """Compress every configuration, then one candidate per (runtime, threads, batch) that can load the result."""
    out = []
    for name, label, options in expand(labels):
        out += candidates_for(name, label, options, runtimes, threads, batches, cs, notify)
    return out


def candidates_for(name: str, label: str, options: dict, runtimes: list[str], threads: list[int], batches: list[int],
                   cs: CompressSetup, notify) -> list[Candidate]:
    from edgepick.compress.flags import int8_flag

    cls = COMPRESSORS.get(name)
    targets = _targets(cls, runtimes)
    if not targets:
        return []  # e.g. the OpenVINO NNCF pass when only onnxruntime is swept
    notify("compressing", {"key": label})
    try:
        # the parent hands the step to a capped worker; in a worker (or a test's own CompressSetup) it runs here
        artifact, steps, record = (cs.steps.produce if cs.steps else produce)(name, label, options, cs)
        failure = None
    except errors.CandidateFailure as f:
        artifact, steps, record, failure = None, [], {"label": label, "compressor": name}, f
    variants = [(label, artifact, record)]
    if record.get("iteration_artifacts"):  # the pruning loop: every step is measured, the kept one is marked
        variants = [(sub, Artifact("torch-exported", path, {"input_names": cs.spec.signature.names}),
                     dict(record, label=sub, step=sub, kept=(path == artifact.path)))
                    for sub, path in record["iteration_artifacts"].items()]
    out = []
    for vlabel, vart, vrecord in variants:
        for rt_name in targets:
            rt = RUNTIMES.get(rt_name)
            post = usable_path(cls.output_format, rt.formats) if failure is None else []
            for t in threads:
                for b in batches:
                    blocked = None
                    if failure is not None:
                        blocked = (failure.reason_class, failure.message)
                    elif not rt.is_available():
                        blocked = (errors.NOT_INSTALLED, f"{rt.distribution} is not installed: {rt.install_hint()}")
                    elif post is None:
                        blocked = (errors.CONVERSION_ERROR, f"no conversion path from {cls.output_format} to {rt_name}")
                    elif not cs.spec.signature.supports_batch(b):
                        blocked = (errors.UNSUPPORTED_SHAPE, cs.spec.signature.batch_blocker(b))
                    rec = dict(vrecord)
                    rec.pop("iteration_artifacts", None)
                    if cls.precision == "int8" and failure is None:
                        rec["int8_flag"] = int8_flag(name, rt_name, vart)
                        if rec["int8_flag"]["likely_slower"] and t == threads[0] and b == batches[0]:
                            notify("int8-flag", {"key": f"{rt_name}/{vlabel} is likely slower than FP32 on this CPU",
                                                 "why": "; ".join(rec["int8_flag"]["why"])})
                    out.append(Candidate(rt_name, cls.precision, t, b, post, blocked, compression=vlabel,
                                         start=vart.to_dict() if vart else None,
                                         cache_dir=str(_variant_dir(vart, vlabel)) if vart else None,
                                         record=rec, steps=list(steps)))
    return out


def fp32_onnx(cs: CompressSetup) -> str:
    """The model as FP32 ONNX (converted and cached like any candidate's), for in-process sensitivity scoring."""
    path = usable_path(cs.spec.artifact.format, ("onnx",))
    if path is None:
        raise ValueError(f"no conversion path from {cs.spec.artifact.format} to onnx")
    artifact, _ = convert_along(path, cs.spec.artifact, cs.spec.signature, cs.artifacts_root)
    return artifact.path


def _variant_dir(artifact: Artifact, label: str) -> Path:
    return Path(artifact.path).parent / f"to-runtime-{label}"
