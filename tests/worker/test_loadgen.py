"""MLPerf LoadGen (the real mlperf_loadgen) around an ONNX Runtime session, with short, non-compliant settings."""

from __future__ import annotations

import numpy as np
import pytest

lg = pytest.importorskip("mlperf_loadgen")
ort = pytest.importorskip("onnxruntime")

from edgepick.core.artifact import Artifact  # noqa: E402
from edgepick.core.errors import UserError  # noqa: E402
from edgepick.report.rigor import loadgen_text as describe  # noqa: E402
from edgepick.runtimes.onnxruntime import OnnxRuntime  # noqa: E402
from edgepick.worker.loadgen import LoadGenSettings, parse_summary, run_scenario  # noqa: E402


@pytest.fixture
def session_and_inputs(tiny_onnx):
    session = OnnxRuntime().load(Artifact("onnx", str(tiny_onnx)), threads=1)
    rng = np.random.default_rng(0)
    prepared = [session.prepare({"input": rng.standard_normal((1, 1, 8, 8), dtype=np.float32)}) for _ in range(8)]
    return session, prepared


def test_single_stream_gives_loadgen_metric_and_verdict(session_and_inputs, tmp_path):
    session, prepared = session_and_inputs
    settings = LoadGenSettings(scenario="singlestream", min_duration_s=0.2, min_queries=50)
    assert settings.scenario == "SingleStream"
    res = run_scenario(session, prepared, settings, p50_ms=0.05, out_dir=tmp_path)
    assert res["scenario"] == "SingleStream" and res["mode"] == "PerformanceOnly"
    assert res["validity"] in ("VALID", "INVALID")
    assert res["metric"]["name"] == "90.0th percentile latency (ms)" and res["metric"]["value"] > 0
    assert set(res["constraints"]) >= {"Min duration satisfied", "Min queries satisfied"}
    assert res["compliance"]["compliant"] is False
    assert any("600 s" in why for why in res["compliance"]["why_not"])
    assert (tmp_path / "run" / "mlperf_log_detail.txt").exists()
    assert "not a compliant run" in describe(res)


def test_server_with_unmeetable_bound_is_invalid_with_reasons(session_and_inputs, tmp_path):
    session, prepared = session_and_inputs
    settings = LoadGenSettings(scenario="Server", min_duration_s=0.3, min_queries=50, target_qps=500,
                               latency_bound_ms=1e-4, find_peak=True, peak_steps=2)
    res = run_scenario(session, prepared, settings, p50_ms=0.05, out_dir=tmp_path)
    assert res["metric"]["name"] == "Completed samples per second" and res["metric"]["value"] > 0
    assert res["validity"] == "INVALID"
    assert "Performance constraints satisfied: NO" in res["reasons"]
    peak = res["peak_search"]
    assert peak["peak_qps"] is None and len(peak["probes"]) == 2  # 0.1 us is below any real latency
    assert all(not p["meets_p99_bound"] for p in peak["probes"])


def test_offline_and_multistream_run(session_and_inputs, tmp_path):
    session, prepared = session_and_inputs
    for scenario, metric in (("Offline", "Samples per second"), ("MultiStream", "99.0th percentile latency (ms)")):
        res = run_scenario(session, prepared, LoadGenSettings(scenario=scenario, min_duration_s=0.2, min_queries=20,
                                                              samples_per_query=2), 0.05, tmp_path / scenario)
        assert res["metric"]["name"] == metric and res["metric"]["value"] > 0


def test_unknown_scenario_is_a_user_error():
    with pytest.raises(UserError, match="SingleStream"):
        LoadGenSettings(scenario="Batch")


def test_parse_summary_reads_early_stopping_reasons():
    text = """================================================
MLPerf Results Summary
================================================
SUT name : PySUT
Scenario : MultiStream
Mode     : PerformanceOnly
99.0th percentile latency (ns) : 18065029
Result is : INVALID
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: NO
Early Stopping Result:
 * Only processed 104 queries.
================================================
Additional Stats
================================================
50.00 percentile latency (ns)   : 8878678
99.00 percentile latency (ns)   : 18065029
"""
    res = parse_summary(text)
    assert res["validity"] == "INVALID"
    assert res["reasons"] == ["Early stopping satisfied: NO"]
    assert res["notes"] == ["Only processed 104 queries."]
    assert res["metric"]["value"] == pytest.approx(18.065029)
    assert res["latency_ms"]["p50"] == pytest.approx(8.878678)


def test_sweep_row_carries_the_loadgen_result(tiny_onnx, home, fast):
    from edgepick.sweep.scheduler import Request, execute

    run = execute(Request(model=str(tiny_onnx), runtimes=["onnxruntime"], threads=[1], timing=fast, noise_retry=False,
                          scenario=LoadGenSettings(scenario="SingleStream", min_duration_s=0.2, min_queries=20).to_dict()))
    row = run.rows[0]
    assert row["status"] == "ok", row["reason"]
    assert row["loadgen"]["validity"] in ("VALID", "INVALID")
    assert row["loadgen"]["compliance"]["compliant"] is False
    assert row["energy"]["kind"] in ("measured", "estimate")
    assert "loadgen" in run.to_json()["candidates"][0]
