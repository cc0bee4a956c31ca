"""Issue 22, finding 7: fleet commands against a head that is not there fail in one line within 10 s (they hung for
over 400 s, printing Ray's warnings). Loopback only: 127.0.0.1:1 has nothing listening."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest
from tests.helpers import cli, one_line_error

from edgepick.core.errors import UserError
from edgepick.launch import reach

CLOSED = "127.0.0.1:1"
WITHIN_S = 10.0

pytest.importorskip("ray")


def _timed(*args: str, env: dict | None = None):
    t0 = time.monotonic()
    res = cli(*args, env=env, timeout=120)
    return res, time.monotonic() - t0


@pytest.mark.parametrize("args", [("devices", "--cluster", CLOSED), ("device", "join", CLOSED, "--name", "nobody"),
                                  ("devices", "--cluster", CLOSED, "--connect-timeout", "2")])
def test_fleet_commands_against_a_closed_port_fail_in_one_line(home, args):
    res, took = _timed(*args)
    print(f"\n{' '.join(args)}: exit {res.returncode} in {took:.2f} s")
    one_line_error(res, "cannot reach the Ray head at 127.0.0.1:1")
    assert took < WITHIN_S


def test_run_on_a_closed_port_fails_in_one_line(home, tiny_onnx):
    res, took = _timed("run", str(tiny_onnx), "--runtimes", "onnxruntime", "--on", "somewhere", "--cluster", CLOSED)
    print(f"\nrun --on --cluster {CLOSED}: exit {res.returncode} in {took:.2f} s")
    one_line_error(res, "cannot reach the Ray head")
    assert took < WITHIN_S and "rows measured" not in res.stderr


def test_a_port_that_is_not_a_ray_head_fails_in_one_line(home):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        res, took = _timed("devices", "--cluster", f"127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
    one_line_error(res, "not a Ray head")
    assert took < WITHIN_S


def test_a_silent_port_times_out_at_the_connect_timeout():
    with socket.socket() as silent:  # accepts (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        t0 = time.monotonic()
        with pytest.raises(UserError, match="not a Ray head"):
            reach.require_reachable(f"127.0.0.1:{silent.getsockname()[1]}", 1.0)
        assert time.monotonic() - t0 < 3


def test_a_grpc_server_passes_the_check():
    grpc = pytest.importorskip("grpc")
    from concurrent.futures import ThreadPoolExecutor

    server = grpc.server(ThreadPoolExecutor(1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        reach.require_reachable(f"127.0.0.1:{port}", 5.0)
    finally:
        server.stop(0)


@pytest.mark.parametrize("value", ["nan", "0", "-1", "inf", "abc", "601"])
def test_bad_connect_timeouts_are_one_line(monkeypatch, value):
    monkeypatch.setenv("EDGEPICK_CONNECT_TIMEOUT", value)
    with pytest.raises(UserError, match="EDGEPICK_CONNECT_TIMEOUT"):
        reach.connect_timeout()
    assert reach.connect_timeout(3) == 3


@pytest.mark.parametrize("address", ["nohost", "host:", ":80", "host:99999", "host:port"])
def test_bad_addresses_are_one_line(address):
    with pytest.raises(UserError, match="bad cluster address"):
        reach.split_address(address)
