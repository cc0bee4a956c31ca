"""`edgepick serve RUN` and `edgepick loadtest URL` (registered on the typer app in cli/main.py)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from edgepick.core.errors import UserError
from edgepick.core.job import LoadGenSettings

_NEEDS = "pip install 'edgepick[serve]'  (fastapi, uvicorn, prometheus-client)"


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"{', '.join(missing)} not installed: {_NEEDS}")


def serve_cmd(run_id: str = typer.Argument(..., help="A run id (or unique prefix) from `edgepick list`."),
              candidate: str | None = typer.Option(None, help="A candidate key (default: the run's pick)."),
              host: str = typer.Option("127.0.0.1", help="Address to bind; another than loopback needs --allow-remote."),
              port: int = typer.Option(8000, help="TCP port (0: a free one, printed)."),
              allow_remote: bool = typer.Option(False, "--allow-remote", help="Acknowledge that a --host other than "
                                                "loopback lets other machines use the model (see --token)."),
              token: str | None = typer.Option(None, envvar="EDGEPICK_SERVE_TOKEN", help="Require Authorization: Bearer "
                                               "TOKEN on /v1/infer and /metrics (or set EDGEPICK_SERVE_TOKEN)."),
              max_batch: int = typer.Option(1, help="Rows per model run; > 1 batches requests that arrive together."),
              max_wait_ms: float = typer.Option(2.0, help="How long a batch waits for more requests, 0..1000 ms."),
              max_request_mb: float = typer.Option(8.0, help="Largest request body accepted, MB (larger: HTTP 413)."),
              max_rows: int = typer.Option(64, help="Most rows one request may carry."),
              head_timeout_s: float = typer.Option(10.0, help="Seconds a client has to send a whole request head "
                                                   "(its body: 3x); a stalled connection is closed after it."),
              db: str | None = typer.Option(None, help="SQLAlchemy URL.")) -> None:
    """Serve a measured candidate over HTTP: POST /v1/infer, GET /healthz, GET /metrics (Prometheus)."""
    _require("fastapi", "uvicorn", "prometheus_client")
    _check_options(max_batch, max_rows, port, max_wait_ms, max_request_mb, head_timeout_s)
    import uvicorn

    from edgepick.cli.select import load_run
    from edgepick.serve.app import ServeOptions, create_app
    from edgepick.serve.guard import InflightLimit, Limits, protocol_class
    from edgepick.serve.model import load_served

    sock = _bind(host, port, allow_remote, token)  # before loading: a busy port is one line, not a banner and Errno 98
    served = load_served(load_run(run_id, db), candidate)
    if max_batch > 1 and not served.batch_dynamic:
        raise UserError(f"{served.key} has a fixed batch dimension; micro-batching needs a dynamic one: use --max-batch 1")
    limits = Limits(head_timeout_s=head_timeout_s, body_timeout_s=3 * head_timeout_s)
    options = ServeOptions(max_batch=max_batch, max_wait_ms=max_wait_ms, max_request_bytes=int(max_request_mb * 1e6),
                           max_rows=max_rows if served.batch_dynamic else 1, body_timeout_s=limits.body_timeout_s,
                           token=token or None)
    app = InflightLimit(create_app(served, options), limits.max_inflight)  # its 503 is JSON, unlike uvicorn's
    bound = sock.getsockname()
    typer.echo(f"edgepick serve: {served.key} of run {served.run_id} on http://{_url_host(bound[0])}:{bound[1]} "
               f"(POST /v1/infer, GET /healthz, GET /metrics; max batch {max_batch}, max wait {max_wait_ms:g} ms"
               f"{'; token required' if token else ''})")
    config = uvicorn.Config(app, log_level="warning", http=protocol_class(limits), limit_concurrency=None,
                            timeout_keep_alive=5, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def _check_options(max_batch: int, max_rows: int, port: int, max_wait_ms: float, max_request_mb: float,
                   head_timeout_s: float) -> None:
    from edgepick.inputs.validate import check_port, number_in

    for name, value in (("--max-batch", max_batch), ("--max-rows", max_rows)):
        if value < 1:
            raise UserError(f"{name} takes a positive integer")
    check_port(port)
    number_in(max_wait_ms, "--max-wait-ms", 0, 1000, " ms")
    number_in(max_request_mb, "--max-request-mb", 0, 1024, " MB", low_open=True)
    number_in(head_timeout_s, "--head-timeout-s", 0, 3600, " s", low_open=True)


def _bind(host: str, port: int, allow_remote: bool, token: str | None):
    """The listening socket, bound here so the banner can say the real port and a busy one is one line."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UserError(f"bad --host '{host}': {e}") from None
    if not allow_remote and not all(_loopback(info[4][0]) for info in infos):
        raise UserError(f"--host {host} lets other machines use the model; add --allow-remote to mean it (and "
                        "--token, or EDGEPICK_SERVE_TOKEN, so only those who know it can), or keep 127.0.0.1")
    if allow_remote and not token:
        typer.echo("warning: --allow-remote without --token: anyone who reaches this port can use the model", err=True)
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is in use (another server is listening there); pick another "
                            "--port, or --port 0 for a free one") from None
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.listen(2048)
    return sock


def _loopback(address: str) -> bool:
    import ipaddress

    return ipaddress.ip_address(address.split("%")[0]).is_loopback


def _url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


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

    scenario = LoadGenSettings(scenario=scenario).scenario  # a bad name is one clear line
    if scenario not in ("Server", "SingleStream", "Offline"):
        raise UserError("loadtest runs SingleStream, Server or Offline (one row per request)")
    from edgepick.inputs.validate import number_in

    number_in(duration, "--duration", 0, 600, " s", low_open=True)  # NaN passed `duration <= 0`: a traceback later
    if min_queries < 1 or not 1 <= concurrency <= 64 or not 1 <= peak_steps <= 12:
        raise UserError("--min-queries >= 1, --concurrency 1..64 and --peak-steps 1..12")
    number_in(latency_bound_ms, "--latency-bound-ms", 0, 3.6e6, " ms", low_open=True)
    if target_qps is not None:
        number_in(target_qps, "--target-qps", 0, 1e7, low_open=True)
    settings = lt.LoadTestSettings(scenario, latency_bound_ms, target_qps, find_peak_qps and scenario == "Server",
                                   duration, min_queries, peak_steps, concurrency)
    info = lt.health(url)
    from edgepick.cli.select import load_run

    try:
        in_process = lt.in_process_figures(load_run(info["run"], db), info["candidate"])
    except UserError:  # the server's run lives in another store: served figures only
        in_process = None
    result = lt.run_loadtest(url, settings, out, in_process)
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        for line in lt.describe(result):
            print(line)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
    app.command("loadtest")(loadtest_cmd)
