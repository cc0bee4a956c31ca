"""`edgepick serve` and `edgepick loadtest` (issue 15): a real uvicorn server on loopback serving a real ONNX Runtime
candidate measured by a real sweep; every request goes to 127.0.0.1 and every load loop is bounded."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")
ort = pytest.importorskip("onnxruntime")

from tests.helpers import FAST_ARGS, cli, export_tiny_onnx  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A tiny ONNX classifier swept on onnxruntime: (run id, model path, env)."""
    root = tmp_path_factory.mktemp("serve")
    path = export_tiny_onnx(root / "tiny.onnx")  # module-scoped: conftest's tiny_onnx is per test
    env = {"EDGEPICK_HOME": str(root / "home")}
    res = cli("run", str(path), "--runtimes", "onnxruntime", "--threads", "1", *FAST_ARGS, "--no-noise-retry", "--json",
              env=env, cwd=root)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)["run_id"], path, env, root


def _start(swept, *extra: str):
    run_id, _, env, root = swept
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "edgepick.cli.main", "serve", run_id, "--port", str(port), *extra],
                            env=dict(os.environ, **env), cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if _call(port, "GET", "/healthz")[0] == 200:
                return proc, port
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            raise AssertionError(proc.stdout.read().decode()[-2000:])
    proc.kill()
    raise AssertionError("the server did not answer /healthz within 120 s")


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _call(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body, headers or {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(swept):
    proc, port = _start(swept, "--max-request-mb", "0.2")
    yield proc, port
    _stop(proc)


def _body(x) -> bytes:
    return json.dumps({"inputs": {"input": x}}).encode()


def test_answers_like_the_runtime_in_process(server, swept):
    _, port = server
    x = np.random.default_rng(3).standard_normal((2, 1, 8, 8)).astype(np.float32)
    status, raw = _call(port, "POST", "/v1/infer", _body(x.tolist()))
    assert status == 200, raw
    got = np.asarray(json.loads(raw)["outputs"][0], np.float32)
    want = ort.InferenceSession(str(swept[1]), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    health = json.loads(_call(port, "GET", "/healthz")[1])
    assert health["candidate"] == "onnxruntime/fp32/t1/b1" and health["inputs"][0]["shape"] == ["N", 1, 8, 8]


BAD = [  # (body, status, words the one-line reason must contain)
    (b"not json", 400, "not JSON"),
    (b'{"x": 1}', 422, '"inputs"'),
    (json.dumps({"inputs": {"input": [[[[0.0] * 8] * 8]], "extra": [1]}}).encode(), 422, "unknown input"),
    (b'{"inputs": {}}', 422, "missing input"),
    (_body([[[[0.0] * 9] * 8]]), 422, "the model takes Nx1x8x8"),
    (_body([[[["a"] * 8] * 8]]), 422, "numbers"),
    (_body([[1, 2], [3]]), 422, "rectangular"),
    (_body(1.5), 422, "shape"),
    (_body([[[[0.0] * 8] * 8]] * 65), 422, "rows"),
]


@pytest.mark.parametrize("body,status,words", BAD)
def test_bad_requests_get_a_4xx_with_one_line(server, body, status, words):
    _, port = server
    got, raw = _call(port, "POST", "/v1/infer", body)
    assert got == status, raw
    error = json.loads(raw)["error"]
    assert words in error and "\n" not in error


def test_nan_and_oversized_bodies_are_refused(server):
    _, port = server
    nan = b'{"inputs": {"input": [[' + b"[" + b", ".join([b"NaN"] * 8) + b"]" + b", [0,0,0,0,0,0,0,0]" * 7 + b"]]}}"
    got, raw = _call(port, "POST", "/v1/infer", nan)
    assert got == 422 and b"NaN" in raw
    big = _body(np.zeros((60, 1, 8, 8)).tolist()) + b" " * 200_000
    got, raw = _call(port, "POST", "/v1/infer", big)
    assert got == 413 and b"limit" in raw
    # chunked: no Content-Length, the server counts as the body arrives
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/infer", body=iter([b" " * 100_000] * 3), encode_chunked=True,
                 headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


def test_survives_a_burst_of_malformed_and_oversized_requests(server):
    proc, port = server
    bodies = [body for body, _, _ in BAD] + [b" " * 250_000, b"\xff\xfe\x00", b"{" * 5000]
    codes: list[int] = []

    def hammer(i: int) -> None:
        for j in range(12):
            try:
                codes.append(_call(port, "POST", "/v1/infer", bodies[(i + j) % len(bodies)])[0])
            except (OSError, http.client.HTTPException):
                codes.append(-1)  # a connection the server closed after an oversized body: allowed, not a crash

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(codes) == 96 and all(400 <= c < 500 or c == -1 for c in codes), sorted(set(codes))
    assert sum(400 <= c < 500 for c in codes) >= 80
    assert proc.poll() is None
    assert _call(port, "POST", "/v1/infer", _body(np.zeros((1, 1, 8, 8)).tolist()))[0] == 200
    metrics = _call(port, "GET", "/metrics")[1].decode()
    assert 'edgepick_requests_total{code="422"}' in metrics and "edgepick_queue_depth 0.0" in metrics
    assert "edgepick_request_latency_seconds_bucket" in metrics and "edgepick_batch_rows_bucket" in metrics


def test_binds_loopback_by_default(server):
    import psutil

    proc, port = server
    listening = [c for c in psutil.Process(proc.pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
    assert listening and all(c.laddr.ip == "127.0.0.1" and c.laddr.port == port for c in listening)


def test_micro_batching_merges_concurrent_requests(swept):
    proc, port = _start(swept, "--max-batch", "8", "--max-wait-ms", "500")
    try:
        barrier, results = threading.Barrier(8), {}
        xs = [np.full((1, 1, 8, 8), i, np.float32) for i in range(8)]

        def one(i):
            barrier.wait()
            results[i] = _call(port, "POST", "/v1/infer", _body(xs[i].tolist()))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        session = ort.InferenceSession(str(swept[1]), providers=["CPUExecutionProvider"])
        for i in range(8):
            status, raw = results[i]
            assert status == 200
            np.testing.assert_allclose(np.asarray(json.loads(raw)["outputs"][0], np.float32),
                                       session.run(None, {"input": xs[i]})[0], rtol=1e-4, atol=1e-5)
        metrics = _call(port, "GET", "/metrics")[1].decode()
        runs = float(next(ln.split()[-1] for ln in metrics.splitlines() if ln.startswith("edgepick_batch_rows_count")))
        rows = float(next(ln.split()[-1] for ln in metrics.splitlines() if ln.startswith("edgepick_batch_rows_sum")))
        assert rows == 8 and runs < 8  # at least two requests shared a model run
    finally:
        _stop(proc)


def test_loadtest_gives_a_loadgen_verdict_and_the_served_overhead(server, swept):
    _, port = server
    res = cli("loadtest", f"http://127.0.0.1:{port}", "--latency-bound-ms", "50", "--duration", "0.5",
              "--min-queries", "20", "--peak-steps", "2", "-o", str(swept[3] / "lt"), "--json",
              env=swept[2], cwd=swept[3], timeout=240)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["scenario"]["scenario"] == "Server" and out["scenario"]["validity"] in ("VALID", "INVALID")
    assert out["single_stream"]["latency_ms"]["p50"] > 0 and out["failures"] == {}
    assert len(out["scenario"]["peak_search"]["probes"]) >= 1
    assert out["in_process"]["key"] == "onnxruntime/fp32/t1/b1" and "p50" in out["overhead_ms"]
    assert out["compliance"]["compliant"] is False
    text = cli("loadtest", f"http://127.0.0.1:{port}", "--scenario", "SingleStream", "--duration", "0.3",
               "--min-queries", "10", "-o", str(swept[3] / "lt2"), env=swept[2], cwd=swept[3], timeout=120)
    assert text.returncode == 0 and "served overhead" in text.stdout and "not a compliant MLPerf run" in text.stdout


def test_loadtest_without_a_server_is_one_line(home):
    res = cli("loadtest", f"http://127.0.0.1:{_free_port()}", "--duration", "0.2")
    assert res.returncode == 2 and "no edgepick server answers" in res.stderr and "Traceback" not in res.stderr
