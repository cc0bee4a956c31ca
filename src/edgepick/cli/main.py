"""The `edgepick` command line. User mistakes print one line and exit 2; --debug shows the traceback."""

from __future__ import annotations

import json
import os
import sys

import typer
from rich.console import Console

from edgepick.core.errors import SweepInterrupted, UserError
from edgepick.report.table import wide_console

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  help="Pick the runtime to deploy a model with, by measurement.")
err = Console(stderr=True)
_state = {"debug": bool(os.environ.get("EDGEPICK_DEBUG"))}


@app.callback()
def _global(debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors.")) -> None:
    _state["debug"] = _state["debug"] or debug


def _db(db: str | None) -> str:
    from edgepick.core.paths import default_db_url

    return db or default_db_url()


# Over 60 lines only because typer declares each of run's options in the signature; the body is two lines.
def run(
    ctx: typer.Context,
    model: str = typer.Argument(..., help="An .onnx/.pt2 file, a module:callable factory, or a zoo name (digits-cnn)."),
    runtimes: str | None = typer.Option(None, help="Comma-separated runtimes to sweep (default: all)."),
    threads: str | None = typer.Option(None, help="Threads per runtime, or a sweep: 1,2 (default: min(2, cores))."),
    batch: str = typer.Option("1", help="Batch sizes, e.g. 1,8."),
    input_shape: str | None = typer.Option(None, help="1x3x224x224, or name=shape pairs: ids=1x128,mask=1x128."),
    data: str | None = typer.Option(None, help="An .npz with x (and labels y), a folder of class sub-folders of images, "
                                    "or module:callable -> (x, y)."),
    data_limit: int = typer.Option(512, help="Use at most this many eval samples."),
    memory_limit: str | None = typer.Option(None, help="Memory cap per worker, e.g. 512MB."),
    memory_mechanism: str = typer.Option("auto", help="auto | cgroup-v2 | rss-watchdog | rlimit-as."),
    timeout: float = typer.Option(300.0, help="Hard timeout per candidate, seconds."),
    cores: str | None = typer.Option(None, help="CPU ids to pin workers to, e.g. 0,1 (default: the first N usable)."),
    min_duration: float = typer.Option(2.0, help="Steady state lasts at least this many seconds..."),
    min_samples: int = typer.Option(50, help="...and at least this many calls."),
    warmup: int = typer.Option(10, help="Warm-up calls (and at least 0.5 s)."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow unpickling .pt/.pth (runs code from the file)."),
    force: bool = typer.Option(False, "--force", help="Measure again instead of reusing stored rows."),
    db: str | None = typer.Option(None, help="SQLAlchemy URL (default sqlite:///./.edgepick/results.db)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON (schema edgepick.run/1)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the table as Markdown."),
    wide: bool = typer.Option(False, "--wide", help="Print the full table (every row, every column) instead of the short answer."),
    details: bool = typer.Option(False, "--details", help="Print every row's details (CI, roofline, noise, energy) and why each lost."),
    budget: str | None = typer.Option(None, help='Constraints, e.g. "p90<=15ms,mem<=300MB,size<=10MB,acc_drop<=1%,throughput>=100/s".'),
    optimize: str | None = typer.Option(None, help="latency | throughput | memory | size | accuracy, or weights latency=0.7,size=0.3."),
    device: str | None = typer.Option(None, help="A device profile: pi-class, phone-class, or a YAML file (cores, memory, ...)."),
    platform: str | None = typer.Option(None, help="Keep runtimes that deploy on <os>-<arch>, e.g. android-arm64; others: platform rows"),
    scenario: str | None = typer.Option(None, help="MLPerf LoadGen scenario: SingleStream | MultiStream | Server | Offline."),
    target_qps: float | None = typer.Option(None, help="Server: Poisson arrival rate (default: half of 1/p50)."),
    latency_bound_ms: float | None = typer.Option(None, help="Server: p99 latency bound (default: max(5 x the steady-state p50, 2 ms))."),
    find_peak_qps: bool = typer.Option(False, "--find-peak-qps", help="Server: search the highest QPS whose p99 meets the bound."),
    lg_min_duration: float = typer.Option(1.0, help="LoadGen min duration, s (MLPerf rules need 600; shorter is marked not compliant)."),
    lg_min_queries: int = typer.Option(100, help="LoadGen min query count."),
    profile_ops: int = typer.Option(0, help="Per-op profile over this many inferences per candidate (0: off); see `show --ops`."),
    cold_start: int = typer.Option(0, help="Cold starts (import, load, first inference) in this many fresh processes (0: off)."),
    exhaustive: bool = typer.Option(False, "--exhaustive", help="Measure every candidate in full (default: a short probe "
                                    "each; clearly slower ones become 'pruned' rows)."),
    trust_history: bool = typer.Option(False, "--trust-history", help="Skip candidates this CPU's earlier runs say "
                                       "lose (2x the best); recorded as pruned."),
    interleave: int = typer.Option(0, help="A B A B windows between the pick and candidates statistically tied with it (0: off)."),
    repeats: int = typer.Option(1, help="Measure every ok candidate in this many fresh processes, in rounds; >1 gives a "
                                "CI of the median that holds from run to run (between-process t-interval)."),
    noise_retry: bool = typer.Option(True, "--noise-retry/--no-noise-retry",
                                     help="Re-measure a row once, longer, when its median moved in its window (CI > +-5%)."),
    compress: str | None = typer.Option(None, help="Compressed candidates too: int8-dynamic,int8-static,fp16,prune,sparsity,"
                                        "distill,simplify (see `edgepick compressors`)."),
    max_acc_drop: str | None = typer.Option(None, help="Compressed rows must stay within this drop: 1% (relative, default) or 0.01abs."),
    metric: str | None = typer.Option(None, help="top1 | top5 | cosine | mse | module:function (default top1 with labels, else cosine)."),
    calib: str | None = typer.Option(None, help="Calibration data (like --data); default a fixed-seed subset of the eval data."),
    calib_size: int = typer.Option(128, help="Calibration samples."),
    train_data: str | None = typer.Option(None, help="Training data for pruning fine-tuning and distillation (.npz x/y, module:function)."),
    preprocess: str | None = typer.Option(None, help="Time the whole frame: a preprocess per frame, resize-normalize or module:function."),
    postprocess: str | None = typer.Option(None, help="...and a postprocess: softmax-topk or module:function (run in the worker only)."),
    fps: float | None = typer.Option(None, help="Frames arrive on this clock; report deadline misses, dropped frames, p99/max, jitter."),
    deadline: str | None = typer.Option(None, help="Per-frame deadline, e.g. 33ms (default 1/fps; alone it sets fps = 1/deadline)."),
    frames: int = typer.Option(300, help="Frames in the frame loop (on the clock, or back to back)."),
    reuse_frame: bool = typer.Option(False, "--reuse-frame", help="Feed one frame every call (default: a ring of distinct frames)."),
    background_load: int = typer.Option(0, help="Run a CPU + memory-bandwidth load on N cores around each candidate."),
    sustain: str | None = typer.Option(None, help="Run the frame loop this long (e.g. 10m): latency over time, drift, clocks, thermals."),
    precision: str | None = typer.Option(None, help="fp32,bf16,fp16 or auto (default: FP32 plus the reduced precisions this "
                                         "CPU computes natively); BF16/FP16 rows are judged on --max-acc-drop."),
    input_value: list[str] | None = typer.Option(None, "--input-value", help="A fixed value for an input, repeatable: "
                                                 "--input-value sr=16000 (used in synthetic data and where --data leaves it out)."),
    no_batch_axis: bool = typer.Option(False, "--no-batch-axis", help="The model's first dims are not a batch (e.g. x "
                                       "[T, F]): feed each sample as the whole input, batch 1."),
    on: str | None = typer.Option(None, help="Measure on devices of a Ray cluster: dev-a,dev-b or class=pi5 (see `edgepick devices`)."),
    cluster: str | None = typer.Option(None, help="The Ray head HOST:PORT for --on (default: RAY_ADDRESS, or the `cluster start` one)."),
    step_timeout: float | None = typer.Option(None, help="Timeout of each step before measuring (load, eval inputs, "
                                              "reference, each conversion/compression), seconds (default: --timeout)."),
    step_memory_limit: str | None = typer.Option(None, help="Memory cap of those steps, e.g. 2GB (default: --memory-limit; "
                                                 "with a --device profile's cap, at least 2 GiB: the profile is the target's RAM)."),
) -> None:
    """Convert, verify and measure MODEL on every runtime; print the pick, its runner-ups and what failed."""
    from edgepick.cli.settings import settings_from_cli

    _sweep_and_print(settings_from_cli(ctx.params, _db(db)), as_json, markdown, wide, details)


# run's options by help panel, in one table so the signature stays one option per line. An option missing here
# lands under "Options" in --help; tests/cli/test_short_output.py names it.
_PANELS = {
    "Workload": ("runtimes", "threads", "batch", "precision", "input_shape", "input_value", "no_batch_axis", "data",
                 "data_limit", "trust_pickle"),
    "Timing and rigor": ("min_duration", "min_samples", "warmup", "timeout", "step_timeout", "noise_retry", "repeats",
                         "interleave", "profile_ops", "cold_start", "exhaustive", "trust_history"),
    "Selection": ("budget", "optimize", "device"),
    "Target": ("cores", "memory_limit", "memory_mechanism", "step_memory_limit", "platform"),
    "Compression": ("compress", "max_acc_drop", "metric", "calib", "calib_size", "train_data"),
    "Real time and LoadGen": ("fps", "deadline", "frames", "reuse_frame", "preprocess", "postprocess", "background_load",
                              "sustain", "scenario", "target_qps", "latency_bound_ms", "find_peak_qps", "lg_min_duration",
                              "lg_min_queries"),
    "Fleet": ("on", "cluster"),
    "Output and store": ("wide", "details", "as_json", "markdown", "force", "db"),
}


def _assign_panels(command, panels: dict[str, tuple[str, ...]]) -> None:
    """Set each option's rich_help_panel; typer reads it when it builds the command, at the first call."""
    import inspect

    panel_of = {name: panel for panel, names in panels.items() for name in names}
    for name, param in inspect.signature(command).parameters.items():
        if isinstance(param.default, typer.models.OptionInfo) and name in panel_of:
            param.default.rich_help_panel = panel_of[name]


_assign_panels(run, _PANELS)


def _sweep_and_print(request, as_json: bool, markdown: bool, wide: bool = False, details: bool = False) -> None:
    import contextlib

    from edgepick.report.progress import sweep_with_progress
    from edgepick.sweep.scheduler import execute

    # --on: Ray's driver prints cluster events (e.g. "the node ... died") on stdout; --json must stay one document
    quiet_stdout = contextlib.redirect_stdout(sys.stderr) if request.target.on else contextlib.nullcontext()
    with quiet_stdout:
        result = sweep_with_progress(lambda on_event: execute(request, on_event), quiet=as_json)
    _print_result(result, as_json, markdown, wide, details)


def _print_result(result, as_json: bool, markdown: bool, wide: bool = False, details: bool = False) -> None:
    if as_json:
        print(json.dumps(result.to_json(), indent=2), flush=True)
    elif markdown:
        from edgepick.report.markdown import to_markdown

        print(to_markdown(result))
        if result.context.get("devices"):
            from edgepick.report.fleet import fleet_markdown

            print(fleet_markdown(result))
    elif not (wide or details):  # the answer first: the pick, runner-ups, one line per group that did not compete
        from edgepick.report.summary import print_summary

        print_summary(result)
    else:
        from edgepick.report.table import print_run

        print_run(result, wide_console(), table=wide, details=details)
        if result.context.get("devices"):  # --on: one pick per device, and the candidate x device table
            from edgepick.report.fleet import print_fleet

            print_fleet(result, wide_console())
        if wide:
            from edgepick.cli.compress import print_compression

            print_compression(result)


def demo(
    batch: str = typer.Option("1,8", help="Batch sizes."),
    force: bool = typer.Option(False, "--force", help="Measure again instead of reusing stored rows."),
    db: str | None = typer.Option(None, help="SQLAlchemy URL."),
) -> None:
    """Train the built-in digits CNN (cached), sweep every runtime, print the pick and its runner-ups."""
    from edgepick.core.units import parse_int_list
    from edgepick.sweep.settings import Settings

    _sweep_and_print(Settings.of("digits-cnn", batches=parse_int_list(batch, "--batch"), force=force,
                                 db_url=_db(db)), False, False)


def list_runs(db: str | None = typer.Option(None, help="SQLAlchemy URL."),
              limit: int = typer.Option(50, help="How many runs, newest first.")) -> None:
    """Past runs, newest first."""
    from rich.table import Table

    from edgepick.store.db import Store

    table = Table(header_style="bold")
    for col in ("run", "when (UTC)", "model", "hash", "rows", "ok", "status", "pick"):
        table.add_column(col)
    for r in Store(_db(db)).list_runs(limit):
        ok = sum(c.status == "ok" for c in r.candidates)
        expected = (r.request or {}).get("expected_rows")
        status = r.status if r.status == "done" else f"incomplete ({r.status}, {len(r.candidates)}/{expected or '?'})"
        table.add_row(r.id, r.created_at.strftime("%Y-%m-%d %H:%M"), r.model_name, r.model_hash[:12],
                      str(len(r.candidates)), str(ok), status, r.pick or "-")
    wide_console().print(table)


def show(run_id: str = typer.Argument(..., help="A run id (or a unique prefix) from `edgepick list`."),
         as_json: bool = typer.Option(False, "--json", help="JSON (schema edgepick.run/1)."),
         markdown: bool = typer.Option(False, "--markdown", help="Markdown."),
         wide: bool = typer.Option(False, "--wide", help="The full table: every row, every column; the compression table."),
         details: bool = typer.Option(False, "--details", help="Every row's details (CI, roofline, noise, energy) and why each lost."),
         ops: bool = typer.Option(False, "--ops", help="Top op families/ops per runtime, roofline, energy, LoadGen, noise."),
         db: str | None = typer.Option(None, help="SQLAlchemy URL.")) -> None:
    """One run's answer from the store: the pick, runner-ups, what failed; --wide/--details for every row."""
    from edgepick.cli.select import stored_run
    from edgepick.cli.train import is_training, show_training
    from edgepick.store.db import Store

    if is_training(stored := Store(_db(db)).get_run(run_id)):  # an `edgepick train` run: its own tables
        return show_training(stored, as_json, markdown)

    if ops:
        from edgepick.cli.rigor import print_ops

        return print_ops(stored_run(stored), wide_console())
    _print_result(stored_run(stored), as_json, markdown, wide, details)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("demo")(demo)
    app.command("list")(list_runs)
    app.command("show")(show)


# The one way to add a command: a plain function in a cli/<group>.py module, named in that module's register(app)
# (app.command(name)(fn); a group of subcommands is a typer.Typer it builds and adds with app.add_typer). A new
# module is one entry here; --help lists the commands in this order, this module's own first.
COMMAND_GROUPS = ("select", "rigor", "serve", "train", "compress", "doctor", "env", "cluster")


def _register_all(app: typer.Typer) -> None:
    import importlib

    register(app)
    for group in COMMAND_GROUPS:
        importlib.import_module(f"edgepick.cli.{group}").register(app)


_register_all(app)


def main() -> None:
    from rich.markup import escape

    from edgepick.cli.errors import click_kind, interrupted_line, state_error_line

    try:
        # standalone_mode=False: the CLI framework would otherwise turn Ctrl-C into a silent exit before edgepick
        # could say what was kept. Usage errors and --help are still formatted by the framework (below).
        code = app(standalone_mode=False)  # --help and typer.Exit(n) come back as a return code
    except UserError as e:
        if _state["debug"]:
            raise
        # escaped: "pip install 'edgepick[postgres]'" would otherwise lose its brackets to Rich markup
        err.print(f"[bold red]edgepick: error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, SweepInterrupted) as e:
        err.print(interrupted_line(e), highlight=False, soft_wrap=True, markup=False)
        sys.exit(130)
    except Exception as e:
        kind = click_kind(e)
        if kind == "abort":  # the framework's wrapper around Ctrl-C
            err.print(interrupted_line(e), highlight=False, soft_wrap=True, markup=False)
            sys.exit(130)
        if kind == "usage":
            e.show()
            sys.exit(e.exit_code)
        if kind == "exit":
            sys.exit(e.exit_code)
        line = None if _state["debug"] else state_error_line(e)
        if line is None:
            raise
        err.print(f"[bold red]edgepick: error:[/] {escape(line)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    if code == 130:  # the framework turned a Ctrl-C outside a sweep into this exit code
        err.print(interrupted_line(KeyboardInterrupt()), highlight=False, soft_wrap=True, markup=False)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
