"""The parent side of `edgepick train`: prepare data and initial weights once, launch one isolated worker per
framework (the inference launcher: hard timeout, CPU affinity, memory cap; MXNet with its venv's python), turn each
result into a row, store it the moment it exists (a killed run resumes: finished frameworks are reused)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepick.core import errors, paths
from edgepick.core.fingerprint import fingerprint
from edgepick.launch.subprocess import run_worker
from edgepick.measure.equivalence import Tolerance
from edgepick.store.db import Store
from edgepick.train import data as train_data
from edgepick.train import weights
from edgepick.train.config import TrainConfig
from edgepick.train.frameworks import DEFAULT, FRAMEWORKS
from edgepick.train.results import row_from_result, trimmed_summary

Progress = Callable[[str, dict], None]
WARMUP_EPOCHS = 1


@dataclass
class TrainRun:
    run_id: str
    config: dict
    request: dict
    fingerprint: dict
    rows: list[dict]
    context: dict = field(default_factory=dict)


def _prepare(config: TrainConfig, folder: Path) -> dict:
    """Data, one initial-weight file per seed (PyTorch's seeded init, canonical layout) and the reference logits."""
    if config.user_model:  # no common definition: each worker builds the user's model itself (user_models.py)
        from edgepick.train.user_models import NO_COPY

        folder.mkdir(parents=True, exist_ok=True)
        record = train_data.prepare(config, folder / "data.npz")
        config.data_chw = tuple(record["input_chw"])
        return record | {"initial_weights_sha256": config.user_model["sha256"], "reference": NO_COPY}
    try:
        import torch
    except ImportError as e:
        raise errors.UserError("edgepick train draws the initial weights with PyTorch: pip install 'edgepick[torch]'") from e

    folder.mkdir(parents=True, exist_ok=True)
    record = train_data.prepare(config, folder / "data.npz")
    config.data_chw = tuple(record["input_chw"])
    _check_zoo_fits(config, record)
    probe = train_data.load(str(folder / "data.npz"))["x_probe"]
    seeds = list(range(config.seeds)) if config.has_accuracy else [0]
    digest = hashlib.sha256()
    for seed in seeds:
        model = weights.torch_model(config.model, seed)
        state = weights.export_torch(model)
        weights.save(state, folder / f"init-seed{seed}.npz")
        for k in sorted(state):
            digest.update(k.encode() + state[k].tobytes())
        if seed == 0:
            model.eval()
            with torch.no_grad():
                logits = model(torch.from_numpy(probe)).numpy()
            np.savez(folder / "reference.npz", logits=logits)
    record["initial_weights_sha256"] = digest.hexdigest()
    record["reference"] = f"PyTorch {torch.__version__} eager forward, seed-0 initial weights, eval mode"
    return record


def _check_zoo_fits(config: TrainConfig, record: dict) -> None:
    if config.data is None:
        return
    if config.model == "digits-cnn" and tuple(record["input_chw"]) != (1, 8, 8):
        raise errors.UserError(f"digits-cnn takes 1x8x8 images; --data holds {'x'.join(map(str, record['input_chw']))}: "
                               "give --image-shape 1x8x8 for an image folder, or your own model (module:callable)")
    if record["classes"] > weights.num_classes(config.model):
        raise errors.UserError(f"{config.model} has {weights.num_classes(config.model)} outputs; --data has "
                               f"{record['classes']} classes: train your own model (module:callable)")


def _job(config: TrainConfig, name: str, folder: Path, cores: list[int]) -> dict:
    fw = FRAMEWORKS[name]
    seeds = list(range(config.seeds)) if config.has_accuracy else []
    return {
        "framework": name, "trainer": fw.trainer, "options": dict(fw.options), "model": config.model,
        "input_chw": list(config.input_chw()), "flatten_chw": weights.flatten_chw(config.model, config.input_chw()),
        "hyperparameters": config.hyperparameters(), "threads": config.threads, "cores": cores,
        "data": str(folder / "data.npz"), "reference": None if config.user_model else str(folder / "reference.npz"),
        "weights": [] if config.user_model else [str(folder / f"init-seed{s}.npz") for s in (seeds or [0])],
        "user_model": config.user_model,
        "seeds": seeds, "epochs": config.epochs if config.has_accuracy else 1,
        "warmup_epochs": WARMUP_EPOCHS, "target": config.target_accuracy if config.has_accuracy else None,
        "loader_workers": config.loader_workers, "tolerance": Tolerance().to_dict(),
        "save_dir": str(folder / name / "trained") if config.deploy else None,
        "broken_copy": name in config.broken_copy_for, "save_stem": f"{_stem(config.model)}-{name}", "check_only": config.check_only,
    }


def _stem(model: str) -> str:
    """A file-name stem for the trained model: a zoo name, a .keras file's stem, or the callable's module."""
    return Path(model).stem if model.endswith(".keras") else model.partition(":")[0].replace(".", "_")


def train_one(config: TrainConfig, name: str, folder: Path) -> dict:
    """One framework's row: a worker's measurements, or a classified reason it has none."""
    fw = FRAMEWORKS[name]
    cores = (config.cores or sorted(os.sched_getaffinity(0)))[: max(1, config.threads)]
    base = {"framework": name, "family": fw.family, "mode": fw.mode, "threads": config.threads,
            "batch": config.batch, "cores": cores}
    missing = fw.missing()
    if config.user_model and fw.trainer and "mxnet" in fw.trainer:
        return row_from_result(base, {"status": "failed", "reason_class": errors.LOAD_ERROR, "reason":
                               "a user's model is a Keras 3 or PyTorch definition; MXNet Gluon loads neither"})
    if missing:
        return row_from_result(base, {"status": "failed", "reason_class": errors.NOT_INSTALLED, "reason": missing})
    try:
        launch = fw.launch(config.threads)
    except errors.CandidateFailure as e:
        return row_from_result(base, {"status": "failed", "reason_class": e.reason_class, "reason": e.message})
    job = _job(config, name, folder, cores)
    result = run_worker(job, folder / name, config.timeout_s, config.memory_limit, config.memory_mechanism,
                        module="edgepick.train.worker", launch=launch)
    return row_from_result(base, result, config.target_accuracy if config.has_accuracy else None)


def execute(config: TrainConfig, progress: Progress | None = None) -> TrainRun:
    notify = progress or (lambda kind, info: None)
    config.validate()
    names = list(config.frameworks or DEFAULT)
    key, described = config.key(names)
    store = Store(config.db_url or paths.default_db_url())
    run = None if config.force else store.find_resumable(key)
    done = {c.key: _row_from_db(c) for c in run.candidates} if run else {}
    folder = paths.home() / "train" / key[:16]
    notify("preparing", {"model": config.model})
    data_record = _prepare(config, folder)
    if run is None:
        described |= {"data": data_record, "config": config.to_dict()}
        run = store.create_run(key, f"{config.model} (train)", data_record["initial_weights_sha256"], described,
                               fingerprint(data_record["initial_weights_sha256"]))
    notify("start", {"run_id": run.id, "total": len(names), "resumed": len(done)})
    rows = []
    for name in names:
        if name in done:
            rows.append(done[name])
            notify("reused", {"key": name})
            continue
        notify("training", {"key": name})
        row = train_one(config, name, folder)
        if config.deploy and row["status"] == "ok":
            from edgepick.train.deploy import deploy_row

            notify("deploying", {"key": name})
            deploy_row(row, config, folder)
        store.save_candidate(run.id, _db_fields(row))
        rows.append(row)
        notify("trained", {"key": name, "status": row["status"]})
    fastest = _fastest(rows)
    store.finish_run(run.id, fastest)
    stored = store.get_run(run.id)
    return TrainRun(run.id, config.to_dict(), stored.request, stored.fingerprint, rows,
                    {"data": data_record, "fastest": fastest})


def _fastest(rows: list[dict]) -> str | None:
    timed = [r for r in rows if r["status"] == "ok" and (r.get("time_to_accuracy_s") or r.get("samples_per_s"))]
    if not timed:
        return None
    if any(r.get("time_to_accuracy_s") for r in timed):
        return min((r for r in timed if r.get("time_to_accuracy_s")), key=lambda r: r["time_to_accuracy_s"])["framework"]
    return max(timed, key=lambda r: r["samples_per_s"])["framework"]


_COLUMNS = ("key", "runtime", "precision", "threads", "batch", "status", "reason_class", "reason")


def _db_fields(row: dict) -> dict:
    fields = {"key": row["framework"], "runtime": row["framework"], "precision": "fp32", "threads": row["threads"],
              "batch": row["batch"], "status": row["status"], "reason_class": row.get("reason_class"),
              "reason": row.get("reason")}
    fields["latency_samples_ms"] = row.get("step_samples_ms")
    fields["metrics"] = {k: v for k, v in row.items() if k not in _COLUMNS and k != "step_samples_ms"}
    return fields


def _row_from_db(c) -> dict:
    row = dict(c.metrics or {})
    row.update(framework=c.key, status=c.status, reason_class=c.reason_class, reason=c.reason, threads=c.threads,
               batch=c.batch, step_samples_ms=c.latency_samples_ms)
    return row


def run_from_store(run_row) -> TrainRun:
    rows = [_row_from_db(c) for c in run_row.candidates]
    req = run_row.request
    return TrainRun(run_row.id, req.get("config", {}), req, run_row.fingerprint, rows,
                    {"data": req.get("data"), "fastest": run_row.pick})


__all__ = ["TrainRun", "execute", "run_from_store", "train_one", "trimmed_summary"]
