"""Roofline arithmetic on a hand-built graph whose MACs and bytes are computed by hand below."""

from __future__ import annotations

import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgepick.measure.roofline import graph_cost, memory_bound_families, row_efficiency  # noqa: E402


@pytest.fixture
def hand_graph(tmp_path):
    """x[N,3,8,8] -Conv(4x3x3x3, pad 1)-> [N,4,8,8] -depthwise Conv(4x1x3x3, group 4, pad 1)-> [N,4,8,8]
    -Relu-> -Flatten-> [N,256] -MatMul(256x10)-> [N,10]. The batch dim is symbolic: counts are per item."""
    import numpy as np

    w1 = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w1")
    w2 = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w2")
    w3 = numpy_helper.from_array(np.ones((256, 10), np.float32), "w3")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="dense", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", "w2"], ["c2"], name="dw", pads=[1, 1, 1, 1], group=4),
        helper.make_node("Relu", ["c2"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flat"),
        helper.make_node("MatMul", ["f", "w3"], ["y"], name="fc"),
    ]
    graph = helper.make_graph(nodes, "hand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], [w1, w2, w3])
    path = tmp_path / "hand.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


def test_macs_and_bytes_per_op_by_hand(hand_graph):
    cost = graph_cost(hand_graph)
    nodes = {n["name"]: n for n in cost["nodes"]}
    # dense conv: 4*8*8 outputs x (3*3*3) MACs each; bytes: in 3*64 + w 108 + out 256 floats
    assert nodes["dense"]["macs"] == 256 * 27 == 6912
    assert nodes["dense"]["bytes"] == 4 * (192 + 108 + 256)
    assert nodes["dense"]["family"] == "conv"
    # depthwise: 256 outputs x (1*3*3)
    assert nodes["dw"]["macs"] == 256 * 9
    assert nodes["dw"]["family"] == "depthwise conv"
    assert nodes["dw"]["bytes"] == 4 * (256 + 36 + 256)
    # matmul [1,256] x [256,10]: 10 outputs x 256-long dot products
    assert nodes["fc"]["macs"] == 2560
    assert nodes["fc"]["family"] == "matmul/gemm"
    assert nodes["relu"]["macs"] == 0 and nodes["relu"]["family"] == "activation"
    assert nodes["relu"]["bytes"] == 4 * 512
    assert cost["macs"] == 6912 + 2304 + 2560
    assert cost["flops"] == 2 * cost["macs"]  # 1 MAC = 2 FLOPs
    assert "1 MAC = 2 FLOPs" in cost["convention"]


def test_depthwise_is_memory_bound_dense_conv_is_not(hand_graph):
    cost = graph_cost(hand_graph)
    dw = cost["families"]["depthwise conv"]
    dense = cost["families"]["conv"]
    assert dw["intensity_flop_per_byte"] == pytest.approx(2 * 2304 / (4 * 548))
    assert dense["intensity_flop_per_byte"] == pytest.approx(2 * 6912 / (4 * 556))
    # machine balance 5 FLOP/byte: depthwise (2.1) is below it, the dense conv (6.2) above
    bound = memory_bound_families(cost, peak_gflops=100.0, peak_gbps=20.0)
    assert "depthwise conv" in bound and "conv" not in bound


def test_row_efficiency_is_flops_over_p50_against_the_measured_peak(hand_graph):
    cost = graph_cost(hand_graph)
    peak = {"threads": 1, "fp32_gflops": 100.0, "int8_gops": 400.0, "bandwidth_gbps": 20.0}
    row = {"status": "ok", "batch": 4, "precision": "fp32", "latency_ms": {"p50": 0.01}}
    eff = row_efficiency(row, cost, peak)
    expected = cost["flops"] * 4 / 1e-5 / 1e9
    assert eff["achieved_gflops"] == pytest.approx(expected)
    assert eff["pct_of_peak"] == pytest.approx(100 * expected / 100.0)
    int8 = row_efficiency(dict(row, precision="int8"), cost, peak)
    assert int8["peak"] == 400.0 and int8["peak_kind"].startswith("int8")
    assert row_efficiency(dict(row, status="failed"), cost, peak) is None


def test_micro_benchmarks_measure_positive_rates():
    pytest.importorskip("onnxruntime")
    from edgepick.rigor.peak import copy_bandwidth, gemm_rate

    assert gemm_rate(1, int8=False, n=128, seconds=0.05) > 0.1  # GFLOP/s: any CPU does far more
    assert gemm_rate(1, int8=True, n=128, seconds=0.05) > 0.1
    assert copy_bandwidth(mb=8, seconds=0.05) > 0.1


def test_peak_is_cached_per_machine_and_threads(home, tmp_path, monkeypatch):
    from edgepick.rigor import peak as peak_mod

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    calls = []

    def fake_measure(threads, seconds=1.0):  # the micro-benchmark itself is tested above; here only the cache
        calls.append(threads)
        return {"threads": threads, "fp32_gflops": 10.0 * threads, "int8_gops": 40.0, "bandwidth_gbps": 5.0,
                "load_before": {"cpu_busy_pct": 1.0}, "busy_warning": None}

    monkeypatch.setattr(peak_mod, "measure_peak", fake_measure)
    first = peak_mod.peak(2)
    again = peak_mod.peak(2)
    assert first["cached"] is False and again["cached"] is True and calls == [2]
    peak_mod.peak(1)
    assert calls == [2, 1]
    assert (home / "peak" / f"{peak_mod.machine_key()}.json").exists()
    assert (tmp_path / "user-cache" / "edgepick" / "peak" / f"{peak_mod.machine_key()}.json").exists()


def test_a_busy_peak_is_measured_again_and_a_rate_never_drops(home, tmp_path, monkeypatch):
    from edgepick.rigor import peak as peak_mod

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    results = iter([
        {"fp32_gflops": 50.0, "int8_gops": 400.0, "bandwidth_gbps": 20.0, "load_before": {}, "busy_warning": "busy"},
        {"fp32_gflops": 90.0, "int8_gops": 300.0, "bandwidth_gbps": 21.0, "load_before": {}, "busy_warning": None},
    ])
    monkeypatch.setattr(peak_mod, "measure_peak", lambda threads, seconds=1.0: dict(next(results), threads=threads))
    busy = peak_mod.peak(1)
    assert busy["fp32_gflops"] == 50.0 and not peak_mod.trusted(busy)
    quiet = peak_mod.peak(1)  # the busy record is not trusted: measured again
    assert quiet["cached"] is False and quiet["fp32_gflops"] == 90.0
    assert quiet["int8_gops"] == 400.0 and "int8_gops" in quiet["kept_from_earlier"]  # the higher earlier rate stays
    assert peak_mod.peak(1)["cached"] is True
