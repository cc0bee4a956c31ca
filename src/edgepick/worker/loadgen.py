"""MLPerf LoadGen scenarios (the real `mlcommons-loadgen`, `import mlperf_loadgen`) around a runtime Session.

Runs inside the isolated worker, after the first inference: LoadGen issues queries, the SUT answers each with the
runtime's own `Session.run` on inputs prepared before the test (the same timer boundary as the steady state), and
LoadGen judges the run. We report LoadGen's own metric and verdict, parsed from its mlperf_log_summary.txt, with the
reasons a run is INVALID (min duration, min queries, early stopping, latency constraint).

One LoadGen sample is one `Session.run` call on one prepared batch of the candidate's batch size. A Server query is
answered by one consumer thread (one stream), like the sync API the steady state times.

MLPerf inference rules ask for at least 600 s per performance run (and an accuracy run); edgepick's default settings
are far shorter, so every result says `compliant: false` with the reason unless the settings meet that minimum.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from pathlib import Path

from edgepick.core.job import LoadGenSettings  # the job's settings: the contract with the parent

MLPERF_MIN_DURATION_S = 600.0
_METRIC = {"SingleStream": "90.0th percentile latency (ns)", "MultiStream": "99.0th percentile latency (ns)",
           "Server": "Completed samples per second", "Offline": "Samples per second"}


def parse_summary(text: str) -> dict:
    """LoadGen's verdict, metric and reasons from mlperf_log_summary.txt."""
    head, _, stats = text.partition("Additional Stats")
    fields = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([^:*=][^:]*?)\s*:\s*(.+?)\s*$", line)
        if m and m.group(1) not in fields:
            fields[m.group(1)] = m.group(2)
    scenario = fields.get("Scenario")
    metric_name = _METRIC.get(scenario or "")
    reasons = [f"{k.strip()}: NO" for k, v in fields.items() if k.strip().endswith("satisfied") and v.upper() == "NO"]
    bullets: list[str] = []
    for ln in head.splitlines():
        if ln.strip().startswith("* "):
            bullets.append(ln.strip()[2:].strip())
        elif bullets and ln.startswith(" ") and ln.strip() and ":" not in ln and not ln.strip().startswith("="):
            bullets[-1] += " " + ln.strip()  # LoadGen wraps long early-stopping notes onto indented lines
    percentiles = {}
    for line in stats.splitlines():
        m = re.match(r"^\s*([\d.]+) percentile latency \(ns\)\s*:\s*(\d+)", line)
        if m:
            percentiles[f"p{float(m.group(1)):g}"] = int(m.group(2)) / 1e6
    raw = fields.get(metric_name) if metric_name else None
    value = float(raw) if raw is not None else None
    if value is not None and metric_name.endswith("(ns)"):
        metric = {"name": metric_name.replace("(ns)", "(ms)"), "value": value / 1e6, "unit": "ms"}
    else:
        metric = {"name": metric_name, "value": value, "unit": "samples/s"}
    return {"scenario": scenario, "mode": fields.get("Mode"), "validity": fields.get("Result is"), "metric": metric,
            "reasons": reasons, "notes": bullets, "latency_ms": percentiles,
            "constraints": {k.strip(): v for k, v in fields.items() if k.strip().endswith("satisfied")}}


def compliance(settings: LoadGenSettings, verdict: dict) -> dict:
    why = []
    if settings.min_duration_s < MLPERF_MIN_DURATION_S:
        why.append(f"min duration {settings.min_duration_s:g} s < {MLPERF_MIN_DURATION_S:g} s required by the MLPerf "
                   "inference rules")
    if verdict.get("validity") != "VALID":
        why.append(f"LoadGen verdict {verdict.get('validity')}")
    why.append("performance-only: no accuracy run, not a submission")
    return {"compliant": False, "why_not": why}


class _Sut:
    """The system under test: answers LoadGen queries with Session.run on prepared inputs."""

    def __init__(self, lg, session, prepared: list, server: bool):
        self.lg, self.session, self.prepared, self.server = lg, session, prepared, server
        self.queue: queue.Queue = queue.Queue()
        self.consumer = threading.Thread(target=self._consume, daemon=True) if server else None
        if self.consumer:
            self.consumer.start()

    def _answer(self, samples) -> None:
        run, prepared, n = self.session.run, self.prepared, len(self.prepared)
        responses = []
        for s in samples:
            run(prepared[s.index % n])
            responses.append(self.lg.QuerySampleResponse(s.id, 0, 0))
        self.lg.QuerySamplesComplete(responses)

    def issue(self, samples) -> None:
        if self.server:
            for s in samples:
                self.queue.put(s)
        else:  # SingleStream/MultiStream/Offline: LoadGen waits for completion anyway, so answer in its thread
            self._answer(samples)

    def _consume(self) -> None:
        while (s := self.queue.get()) is not None:
            self._answer([s])

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.consumer:
            self.queue.put(None)
            self.consumer.join(timeout=10)


def _test_settings(lg, settings: LoadGenSettings, p50_ms: float, qps: float | None, bound_ms: float):
    ts = lg.TestSettings()
    ts.scenario = getattr(lg.TestScenario, settings.scenario)
    ts.mode = lg.TestMode.PerformanceOnly
    ts.min_duration_ms = int(settings.min_duration_s * 1000)
    ts.min_query_count = int(settings.min_queries)
    expected_ns = max(1, int(p50_ms * 1e6))
    ts.single_stream_expected_latency_ns = expected_ns
    ts.multi_stream_expected_latency_ns = expected_ns * settings.samples_per_query
    ts.multi_stream_samples_per_query = settings.samples_per_query
    ts.offline_expected_qps = 1e3 / p50_ms
    if qps is not None:
        ts.server_target_qps = qps
    ts.server_target_latency_ns = int(bound_ms * 1e6)
    ts.server_target_latency_percentile = 0.99
    return ts


def _one_test(lg, sut, qsl, settings, p50_ms, qps, bound_ms, out_dir: Path) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    log_out = lg.LogOutputSettings()
    log_out.outdir = str(out_dir)
    log_out.copy_summary_to_stdout = False
    log_settings = lg.LogSettings()
    log_settings.log_output = log_out
    log_settings.enable_trace = False
    t0 = time.perf_counter()
    lg.StartTestWithLogSettings(sut, qsl, _test_settings(lg, settings, p50_ms, qps, bound_ms), log_settings)
    verdict = parse_summary((out_dir / "mlperf_log_summary.txt").read_text())
    verdict["wall_s"] = time.perf_counter() - t0
    verdict["log_dir"] = str(out_dir)
    if qps is not None:
        verdict["target_qps"] = qps
    return verdict


def run_scenario(session, prepared: list, settings: LoadGenSettings, p50_ms: float, out_dir: Path) -> dict:
    """Run the scenario (and for Server with find_peak, the QPS search) on an already loaded Session."""
    import mlperf_loadgen as lg

    server = settings.scenario == "Server"
    # LoadGen's Python callback path costs tens of microseconds per query, so a sub-millisecond bound would judge
    # the harness, not the model: the default bound is never below 2 ms
    bound_ms = settings.latency_bound_ms or max(5.0 * p50_ms, 2.0)
    sut_impl = _Sut(lg, session, prepared, server)
    sut = lg.ConstructSUT(sut_impl.issue, sut_impl.flush)
    n = len(prepared)
    qsl = lg.ConstructQSL(n, min(n, settings.max_samples), lambda idx: None, lambda idx: None)
    capacity = None
    try:
        if server and (settings.find_peak or not settings.target_qps):
            capacity = _capacity(lg, settings, p50_ms, bound_ms, session, prepared, out_dir)
        qps = (settings.target_qps or 0.5 * capacity) if server else None
        result = _one_test(lg, sut, qsl, settings, p50_ms, qps, bound_ms, out_dir / "run")
        if server and settings.find_peak:
            result["peak_search"] = _find_peak(lg, sut, qsl, settings, p50_ms, bound_ms, capacity, out_dir)
    finally:
        sut_impl.close()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    if capacity is not None:
        result["capacity_qps"] = capacity
    result["settings"] = settings.to_dict() | {"latency_bound_ms": bound_ms if server else None}
    result["compliance"] = compliance(settings, result)
    result["loadgen_version"] = _version()
    result["sample"] = "one Session.run on one prepared batch"
    return result


def _capacity(lg, settings, p50_ms, bound_ms, session, prepared, out_dir: Path) -> float:
    """Queries/s the SUT sustains with LoadGen's own overhead, from a short Offline run (its samples/s).

    1/p50 overstates it (each query also pays the Python callback and LoadGen's bookkeeping), and a Server test
    above capacity queues without bound: LoadGen then waits for every late query, which takes many times the
    min duration. Offline has no arrival schedule, so it measures the service rate safely.
    """
    offline = LoadGenSettings("Offline", min_duration_s=max(0.2, settings.min_duration_s / 4), min_queries=1,
                              max_samples=settings.max_samples)
    sut_impl = _Sut(lg, session, prepared, server=False)
    sut = lg.ConstructSUT(sut_impl.issue, sut_impl.flush)
    qsl = lg.ConstructQSL(len(prepared), min(len(prepared), settings.max_samples), lambda idx: None, lambda idx: None)
    try:
        verdict = _one_test(lg, sut, qsl, offline, p50_ms, None, bound_ms, out_dir / "capacity")
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    return verdict["metric"]["value"] or 1e3 / p50_ms


def _meets_bound(verdict: dict) -> bool:
    return verdict.get("constraints", {}).get("Performance constraints satisfied", "").lower() == "yes"


def _find_peak(lg, sut, qsl, settings, p50_ms, bound_ms, capacity, out_dir: Path) -> dict:
    """Bisect the Server target QPS between 0 and the measured capacity; LoadGen judges each probe's p99."""
    lo, hi, probes, best = 0.0, capacity, [], None
    for step in range(settings.peak_steps):
        qps = hi if step == 0 else (lo + hi) / 2
        verdict = _one_test(lg, sut, qsl, settings, p50_ms, qps, bound_ms, out_dir / f"peak-{step}")
        ok = _meets_bound(verdict)
        probes.append({"target_qps": qps, "p99_ms": verdict["latency_ms"].get("p99"), "meets_p99_bound": ok,
                       "validity": verdict["validity"], "achieved_qps": verdict["metric"]["value"]})
        if ok:
            lo, best = qps, verdict
            if step == 0:
                break  # even the single-stream capacity keeps the bound
        else:
            hi = qps
    return {"latency_bound_ms": bound_ms, "percentile": 99, "peak_qps": lo if best else None,
            "peak_validity": best["validity"] if best else None, "peak_reasons": best["reasons"] if best else None,
            "probes": probes,
            "method": f"bisection over {settings.peak_steps} LoadGen Server runs between 0 and the capacity "
                      f"{capacity:.1f} QPS measured by a short LoadGen Offline run"}


def _version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("mlcommons-loadgen")
    except metadata.PackageNotFoundError:
        return None
