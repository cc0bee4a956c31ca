"""`edgepick train`: the same model trained in each framework, measured; bodies here, registered in cli/main.py."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from edgepick.core.errors import UserError


def train_cmd(
    model: str = typer.Argument("digits-cnn", help="A zoo model: digits-cnn (real data) or mobilenetv2-like (--synthetic); "
                                "or a Keras 3 .keras file, or module:callable returning a Keras 3 model or a torch nn.Module."),
    frameworks: str | None = typer.Option(None, help="Comma-separated: pytorch,pytorch-compile,keras-tensorflow,"
                                          "keras-tensorflow-xla,keras-jax,keras-torch,mxnet,caffe,theano (default: all)."),
    epochs: int = typer.Option(12, help="Epochs per seed."),
    batch: int = typer.Option(64, help="Batch size (the last partial batch is dropped in every framework)."),
    optimizer: str = typer.Option("adam", help="adam | sgd (momentum 0.9)."),
    lr: float = typer.Option(3e-3, help="Learning rate."),
    schedule: str = typer.Option("cosine", help="cosine (per step, to 0) | constant."),
    seeds: int = typer.Option(5, help="Trainings per framework for time-to-accuracy (fastest and slowest dropped)."),
    target: float = typer.Option(0.95, help="Held-out accuracy for time-to-accuracy."),
    threads: int | None = typer.Option(None, help="Threads per framework (default: min(2, cores))."),
    cores: str | None = typer.Option(None, help="CPU ids to pin workers to, e.g. 0,1."),
    loader_workers: int = typer.Option(1, help="DataLoader worker processes (PyTorch, Keras on PyTorch, MXNet)."),
    synthetic: str | None = typer.Option(None, help="CxHxW random images: step time and memory only, e.g. 3x96x96."),
    steps: int = typer.Option(10, help="With --synthetic: measured steps after the first."),
    timeout: float = typer.Option(900.0, help="Hard timeout per framework, seconds."),
    memory_limit: str | None = typer.Option(None, help="Memory cap per framework worker, e.g. 2GB."),
    memory_mechanism: str = typer.Option("auto", help="auto | cgroup-v2 | rss-watchdog | rlimit-as."),
    deploy: bool = typer.Option(False, "--deploy", help="Put each trained model (native format) through the inference sweep."),
    deploy_runtimes: str | None = typer.Option(None, help="With --deploy: the runtimes to try (default: all)."),
    check_only: bool = typer.Option(False, "--check-only", help="Only copy the initial weights and check each "
                                    "framework's forward outputs agree with PyTorch's."),
    force: bool = typer.Option(False, "--force", help="Train again instead of reusing stored rows."),
    db: str | None = typer.Option(None, help="SQLAlchemy URL (default sqlite:///./.edgepick/results.db)."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON (schema edgepick.train/1)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the tables as Markdown."),
    data: str | None = typer.Option(None, help="Training data (default: the built-in digits): an .npz with x (images, "
                                    "NCHW or NHWC) and y (integer classes), a module:callable returning (x, y), or a "
                                    "folder of class sub-folders of images; 20% per class is held out (seed 0)."),
    image_shape: str | None = typer.Option(None, help="CxHxW an image folder is resized to (default: 1x8x8 for "
                                           "digits-cnn, else the images' own size)."),
) -> None:
    """Train MODEL with the same data, weights and hyperparameters in each framework; compare time, memory, accuracy."""
    from edgepick.core.paths import default_db_url
    from edgepick.core.units import parse_int_list, parse_size
    from edgepick.train.config import TrainConfig

    config = TrainConfig(
        model=model, frameworks=_names(frameworks), epochs=epochs, batch=batch, optimizer=optimizer, lr=lr,
        schedule=schedule, seeds=seeds, target_accuracy=target, loader_workers=loader_workers, synthetic=synthetic,
        steps=steps, timeout_s=timeout, memory_limit=parse_size(memory_limit) if memory_limit else None,
        memory_mechanism=memory_mechanism, deploy=deploy, deploy_runtimes=_names(deploy_runtimes), force=force,
        check_only=check_only, data=data, image_shape=image_shape,
        db_url=db or default_db_url(),
        cores=parse_int_list(cores.replace(" ", ""), "--cores", minimum=0) if cores else None)
    if threads is not None:
        config.threads = threads
    if memory_mechanism not in ("auto", "cgroup-v2", "rss-watchdog", "rlimit-as"):
        raise UserError(f"bad --memory-mechanism '{memory_mechanism}': auto, cgroup-v2, rss-watchdog or rlimit-as")
    if not 0 < target <= 1:
        raise UserError(f"--target is a held-out accuracy between 0 and 1, e.g. 0.95; got {target}")
    run = train_with_progress(config, quiet=as_json)
    print_training(run, as_json, markdown)


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


def train_with_progress(config, quiet: bool = False):
    from edgepick.train.runner import execute

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), disable=quiet)
    task = bar.add_task("preparing data and initial weights", total=None)

    def on_event(kind: str, info: dict) -> None:
        if kind == "start":
            bar.start()
            note = f", {info['resumed']} reused from the store" if info["resumed"] else ""
            bar.update(task, total=info["total"], description=f"train run {info['run_id']}{note}")
        elif kind in ("training", "deploying"):
            bar.update(task, description=f"{kind} {info['key']}")
        elif kind in ("trained", "reused"):
            bar.advance(task)
            if kind == "trained" and not quiet:
                bar.console.print(f"{info['key']}: {info['status']}")

    try:
        run = execute(config, on_event)
        bar.update(task, description="done")
    finally:
        bar.stop()
    return run


def print_training(run, as_json: bool = False, markdown: bool = False) -> None:
    from edgepick.report.table import wide_console
    from edgepick.train import report

    if as_json:
        print(json.dumps(report.to_json(run), indent=2))
    elif markdown:
        print(report.to_markdown(run))
    else:
        report.print_train(run, wide_console())


def show_training(run_row, as_json: bool, markdown: bool) -> None:
    """`edgepick show` on a training run."""
    from edgepick.train.runner import run_from_store

    print_training(run_from_store(run_row), as_json, markdown)


def is_training(run_row) -> bool:
    return (run_row.request or {}).get("kind") == "train"


def comparable(run_row):
    """A training run shaped for `edgepick compare`: one row per framework, step times as its latency samples."""
    from types import SimpleNamespace

    from edgepick.train.runner import run_from_store

    run = run_from_store(run_row)
    rows = [{**r, "key": r["framework"], "latency_ms": r.get("step_ms"), "throughput_per_s": r.get("samples_per_s"),
             "accuracy": r.get("final_accuracy"), "latency_samples_ms": r.get("step_samples_ms")} for r in run.rows]
    return SimpleNamespace(run_id=run.run_id, rows=rows, fingerprint=run.fingerprint, model_hash=run_row.model_hash)


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
