"""`edgepick serve RUN` and `edgepick loadtest URL` (registered on the typer app in cli/main.py)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgepick.core.errors import UserError

_NEEDS = "pip install 'edgepick[serve]'  (fastapi, uvicorn, prometheus-client)"


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"{', '.join(missing)} not installed: {_NEEDS}")


def _load_run(run_id: str, db: str | None):
    from edgepick.core.paths import default_db_url
    from edgepick.store.db import Store
    from edgepick.store.result import run_from_db

    return run_from_db(Store(db or default_db_url()).get_run(run_id))


def serve_cmd(run_id: str = typer.Argument(..., help="A run id (or unique prefix) from `edgepick list`."),
              candidate: str | None = typer.Option(None, help="A candidate key (default: the run's pick)."),
              host: str = typer.Option("127.0.0.1", help="Address to bind; loopback unless you say otherwise."),
              port: int = typer.Option(8000, help="TCP port."),
              max_batch: int = typer.Option(1, help="Rows per model run; > 1 batches requests that arrive together."),
              max_wait_ms: float = typer.Option(2.0, help="How long a batch waits for more requests, ms."),
              max_request_mb: float = typer.Option(8.0, help="Largest request body accepted, MB (larger: HTTP 413)."),
              max_rows: int = typer.Option(64, help="Most rows one request may carry."),
              db: str | None = typer.Option(None, help="SQLAlchemy URL.")) -> None:
    """Serve a measured candidate over HTTP: POST /v1/infer, GET /healthz, GET /metrics (Prometheus)."""
    _require("fastapi", "uvicorn", "prometheus_client")
    for name, value in (("--max-batch", max_batch), ("--max-rows", max_rows), ("--port", port + 1)):
        if value < 1:
            raise UserError(f"{name} takes a positive integer")
    if max_wait_ms < 0 or max_request_mb <= 0:
        raise UserError("--max-wait-ms takes a value >= 0 and --max-request-mb a positive one")
    import uvicorn

    from edgepick.serve.app import ServeOptions, create_app
    from edgepick.serve.model import load_served

    served = load_served(_load_run(run_id, db), candidate)
    if max_batch > 1 and not served.batch_dynamic:
        raise UserError(f"{served.key} has a fixed batch dimension; micro-batching needs a dynamic one: use --max-batch 1")
    options = ServeOptions(max_batch=max_batch, max_wait_ms=max_wait_ms, max_request_bytes=int(max_request_mb * 1e6),
                           max_rows=max_rows if served.batch_dynamic else 1)
    app = create_app(served, options)
    typer.echo(f"edgepick serve: {served.key} of run {served.run_id} on http://{host}:{port} "
               f"(POST /v1/infer, GET /healthz, GET /metrics; max batch {max_batch}, max wait {max_wait_ms:g} ms)")
    # limit_concurrency: past 256 open requests uvicorn answers 503 at once instead of queueing without bound
    uvicorn.run(app, host=host, port=port, log_level="warning", limit_concurrency=256, timeout_keep_alive=30)


def loadtest_cmd(url: str = typer.Argument(..., help="The server's base URL, e.g. http://127.0.0.1:8000."),
                 scenario: str = typer.Option("Server", help="LoadGen scenario after the SingleStream baseline."),
                 latency_bound_ms: float = typer.Option(10.0, help="Server: the p99 bound, ms."),
                 target_qps: float | None = typer.Option(None, help="Server: Poisson rate (default: half the capacity)."),
                 find_peak_qps: bool = typer.Option(True, "--find-peak-qps/--no-find-peak-qps",
                                                    help="Server: bisect for the highest QPS meeting the p99 bound."),
                 duration: float = typer.Option(2.0, help="Each LoadGen test's minimum duration, s."),
                 min_queries: int = typer.Option(100, help="Each LoadGen test's minimum query count."),
                 peak_steps: int = typer.Option(5, help="Bisection steps of the peak search."),
                 concurrency: int = typer.Option(4, help="Client connections."),
                 out: Path = typer.Option(Path("loadtest-logs"), "-o", "--output", help="Where LoadGen writes its logs."),
                 as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
                 db: str | None = typer.Option(None, help="SQLAlchemy URL (for the in-process figures).")) -> None:
    """Drive a served endpoint with MLPerf LoadGen: served latency vs in-process, a verdict, the peak QPS."""
    _require("mlperf_loadgen")
    from edgepick.serve import loadtest as lt
    from edgepick.worker.loadgen import LoadGenSettings

    scenario = LoadGenSettings(scenario=scenario).scenario  # a bad name is one clear line
    if scenario not in ("Server", "SingleStream", "Offline"):
        raise UserError("loadtest runs SingleStream, Server or Offline (one row per request)")
    if duration <= 0 or duration > 600 or min_queries < 1 or not 1 <= concurrency <= 64 or not 1 <= peak_steps <= 12:
        raise UserError("--duration 0..600 s, --min-queries >= 1, --concurrency 1..64 and --peak-steps 1..12")
    if latency_bound_ms <= 0 or (target_qps is not None and target_qps <= 0):
        raise UserError("--latency-bound-ms and --target-qps take positive values")
    settings = lt.LoadTestSettings(scenario, latency_bound_ms, target_qps, find_peak_qps and scenario == "Server",
                                   duration, min_queries, peak_steps, concurrency)
    info = lt.health(url)
    try:
        in_process = lt.in_process_figures(_load_run(info["run"], db), info["candidate"])
    except UserError:  # the server's run lives in another store: served figures only
        in_process = None
    result = lt.run_loadtest(url, settings, out, in_process)
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        for line in lt.describe(result):
            print(line)
