"""`edgepick loadtest URL`: drive a served endpoint with MLPerf LoadGen (the real mlperf_loadgen).

The system under test answers each LoadGen sample with one POST /v1/infer (one row, JSON) over a keep-alive
connection from a small pool of client threads, so Server queries that arrive together (Poisson arrivals) overlap as
real clients' would, and a micro-batching server can batch them. The request bodies are built once, before the test,
from the input signature the server reports on /healthz (16 seeded synthetic rows).

Three phases, each a short LoadGen test (never a compliant MLPerf run: see worker/loadgen.py):
  1. SingleStream: one request at a time, the served latency to compare with the in-process figure of the same
     candidate (its row in the run the server reports);
  2. the scenario (Server by default): Poisson arrivals at --target-qps (default half the capacity a short Offline
     run measures), VALID/INVALID with LoadGen's reasons;
  3. Server with --find-peak-qps: bisection for the highest QPS whose p99 meets --latency-bound-ms.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from edgepick.core.errors import UserError


@dataclass
class LoadTestSettings:
    scenario: str = "Server"
    latency_bound_ms: float = 10.0
    target_qps: float | None = None
    find_peak: bool = True
    duration_s: float = 2.0  # each LoadGen test's min duration
    min_queries: int = 100
    peak_steps: int = 5
    concurrency: int = 4  # client threads (keep-alive connections)


def _endpoint(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"bad URL '{url}': give the server's base URL, e.g. http://127.0.0.1:8000")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


_HEALTH_KEYS = {"run": str, "candidate": str, "runtime": str, "max_batch": int, "inputs": list}


def health(url: str, timeout: float = 5.0) -> dict:
    _endpoint(url)  # a bad URL is one line before anything is sent
    request = urllib.request.Request(url.rstrip("/") + "/healthz", headers=_auth_headers())
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            text = resp.read(1 << 20)
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise UserError(f"no edgepick server answers at {url} ({e}); start one with `edgepick serve RUN`") from None
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not _is_edgepick_health(info):  # another server's /healthz: its answer must not become our KeyErrors
        raise UserError(f"the server at {url} is not an edgepick server (its /healthz does not describe a served "
                        "candidate); give the URL `edgepick serve` printed")
    return info


def _is_edgepick_health(info) -> bool:
    if not isinstance(info, dict) or not all(isinstance(info.get(k), t) for k, t in _HEALTH_KEYS.items()):
        return False
    return all(isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("shape"), list)
               and isinstance(s.get("dtype"), str) for s in info["inputs"])


def _auth_headers() -> dict:
    """EDGEPICK_SERVE_TOKEN, the server's --token, when the server was started with one."""
    import os

    token = os.environ.get("EDGEPICK_SERVE_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def request_bodies(info: dict, count: int = 16) -> list[bytes]:
    bodies = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        inputs = {}
        for spec in info["inputs"]:
            shape = [1 if d == "N" else d for d in spec["shape"]]
            if np.issubdtype(np.dtype(spec["dtype"]), np.floating):
                inputs[spec["name"]] = rng.standard_normal(shape).astype(spec["dtype"]).tolist()
            else:
                inputs[spec["name"]] = rng.integers(0, 2, size=shape).tolist()
        bodies.append(json.dumps({"inputs": inputs}).encode())
    return bodies


class HttpSut:
    """LoadGen samples -> POST /v1/infer from `concurrency` client threads; failures are counted, never hidden."""

    def __init__(self, lg, url: str, bodies: list[bytes], concurrency: int):
        self.lg, self.bodies = lg, bodies
        self.scheme, self.host, self.port, base = _endpoint(url)
        self.path = base + "/v1/infer"
        self.queue: queue.Queue = queue.Queue()
        self.failures: Counter = Counter()
        self.answered = 0
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(concurrency)]
        for t in self.threads:
            t.start()

    def _connect(self):
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=60)

    def _client(self) -> None:
        conn = self._connect()
        headers = {"Content-Type": "application/json", **_auth_headers()}
        while (sample := self.queue.get()) is not None:
            try:
                conn.request("POST", self.path, self.bodies[sample.index % len(self.bodies)], headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.failures[f"HTTP {resp.status}"] += 1
            except (OSError, http.client.HTTPException) as e:
                self.failures[type(e).__name__] += 1
                conn.close()
                conn = self._connect()
            self.answered += 1
            self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(sample.id, 0, 0)])
        conn.close()

    def issue(self, samples) -> None:
        for s in samples:
            self.queue.put(s)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join(timeout=10)


def _warm_p50_ms(sut: HttpSut, n: int = 20) -> float:
    """A first estimate of the served latency for LoadGen's expected-latency settings (and a warm server)."""
    conn, times = sut._connect(), []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            conn.request("POST", sut.path, sut.bodies[i % len(sut.bodies)],
                         {"Content-Type": "application/json", **_auth_headers()})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                raise UserError(f"the server refused a well-formed request: HTTP {resp.status} {body[:200]!r}")
            times.append((time.perf_counter() - t0) * 1e3)
    finally:
        conn.close()
    return float(np.median(times))


def _capacity(lg, lgm, sut, qsl, settings: LoadTestSettings, p50_ms: float, bound_ms: float, out_dir: Path) -> float:
    """Served queries/s from a short LoadGen Offline run (no arrival schedule, so it cannot queue without bound)."""
    offline = lgm.LoadGenSettings("Offline", min_duration_s=max(0.3, settings.duration_s / 4), min_queries=1)
    verdict = lgm._one_test(lg, sut, qsl, offline, p50_ms, None, bound_ms, out_dir / "capacity")
    return verdict["metric"]["value"] or 1e3 / p50_ms


def run_loadtest(url: str, settings: LoadTestSettings, out_dir: Path, in_process: dict | None = None) -> dict:
    import mlperf_loadgen as lg

    from edgepick.worker import loadgen as lgm

    info = health(url)
    bodies = request_bodies(info)
    scen = lgm.LoadGenSettings(settings.scenario, min_duration_s=settings.duration_s, min_queries=settings.min_queries,
                               target_qps=settings.target_qps, latency_bound_ms=settings.latency_bound_ms,
                               find_peak=settings.find_peak, peak_steps=settings.peak_steps)
    server, bound = scen.scenario == "Server", settings.latency_bound_ms
    sut_impl = HttpSut(lg, url, bodies, settings.concurrency)
    sut = lg.ConstructSUT(sut_impl.issue, sut_impl.flush)
    qsl = lg.ConstructQSL(len(bodies), len(bodies), lambda idx: None, lambda idx: None)
    out: dict = {"url": url, "server": info, "settings": asdict(settings), "loadgen_version": lgm._version()}
    t0 = time.perf_counter()
    try:
        p50 = _warm_p50_ms(sut_impl)
        single = lgm.LoadGenSettings("SingleStream", min_duration_s=settings.duration_s, min_queries=settings.min_queries)
        out["single_stream"] = lgm._one_test(lg, sut, qsl, single, p50, None, bound, out_dir / "single-stream")
        capacity = _capacity(lg, lgm, sut, qsl, settings, p50, bound, out_dir) if server else None
        qps = (settings.target_qps or 0.5 * capacity) if server else None
        out["scenario"] = lgm._one_test(lg, sut, qsl, scen, p50, qps, bound, out_dir / "scenario")
        if server and settings.find_peak:
            out["scenario"]["peak_search"] = lgm._find_peak(lg, sut, qsl, scen, p50, bound, capacity, out_dir)
        out["capacity_qps"] = capacity
    finally:
        sut_impl.close()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    out |= {"wall_s": time.perf_counter() - t0, "requests": sut_impl.answered, "failures": dict(sut_impl.failures),
            "compliance": lgm.compliance(scen, out["scenario"]), "in_process": in_process}
    out["overhead_ms"] = overhead(out["single_stream"], in_process)
    return out


def overhead(single_stream: dict, in_process: dict | None) -> dict | None:
    """Served minus in-process latency at p50 and p99 (what HTTP, JSON and queueing add)."""
    if not in_process:
        return None
    served = single_stream.get("latency_ms") or {}
    return {q: served[q] - in_process[f"{q}_ms"] for q in ("p50", "p99") if served.get(q) is not None
            and in_process.get(f"{q}_ms") is not None}


def in_process_figures(run, key: str) -> dict | None:
    """The same candidate's in-process figures from its run: steady-state p50/p99 and a LoadGen peak if measured."""
    row = next((r for r in run.rows if r["key"] == key), None)
    lat = (row or {}).get("latency_ms")
    if not lat:
        return None
    figures = {"run": run.run_id, "key": key, "p50_ms": lat["p50"], "p99_ms": lat["p99"],
               "source": "steady state: Session.run on prepared inputs, in the isolated worker"}
    peak = ((row.get("loadgen") or {}).get("peak_search") or {})
    if peak.get("peak_qps") is not None:
        figures["peak_qps"], figures["peak_bound_ms"] = peak["peak_qps"], peak["latency_bound_ms"]
    return figures


def describe(res: dict) -> list[str]:
    info, ss, sc = res["server"], res["single_stream"], res["scenario"]
    lat = ss.get("latency_ms") or {}
    lines = [f"loadtest {res['url']} · {info['candidate']} of run {info['run']} ({info['runtime']}, max batch "
             f"{info['max_batch']}) · LoadGen {res['loadgen_version']} · {res['requests']} requests in {res['wall_s']:.0f} s",
             f"served, one request at a time (SingleStream): p50 {lat.get('p50', float('nan')):.3f} ms, "
             f"p99 {lat.get('p99', float('nan')):.3f} ms; {ss['validity']}"]
    ip, oh = res.get("in_process"), res.get("overhead_ms")
    if ip and oh:
        lines.append(f"in-process {ip['source']}: p50 {ip['p50_ms']:.3f} ms, p99 {ip['p99_ms']:.3f} ms -> served "
                     f"overhead +{oh.get('p50', 0):.3f} ms at p50, +{oh.get('p99', 0):.3f} ms at p99")
    else:
        lines.append("in-process: the server's run is not in this store (--db), so no overhead is computed")
    from edgepick.report.rigor import loadgen_text as lg_describe

    target = f" at {sc['target_qps']:.1f} QPS (Poisson)" if sc.get("target_qps") else ""
    lines.append(f"{sc['scenario']}{target}, p99 bound {res['settings']['latency_bound_ms']:g} ms: {lg_describe(sc)}")
    if sc.get("reasons"):
        lines.append(f"verdict {sc['validity']}: {'; '.join(sc['reasons'])}")
    if ip and ip.get("peak_qps") is not None and sc.get("peak_search", {}).get("peak_qps") is not None:
        lines.append(f"peak QPS served {sc['peak_search']['peak_qps']:.1f} vs in-process {ip['peak_qps']:.1f} "
                     f"(in-process bound {ip['peak_bound_ms']:.3g} ms)")
    if res["failures"]:
        lines.append(f"failed requests: {res['failures']}")
    lines.append("not a compliant MLPerf run: " + "; ".join(res["compliance"]["why_not"]))
    return lines
