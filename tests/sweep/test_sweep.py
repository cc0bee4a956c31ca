"""End-to-end sweeps on tiny real models with real runtimes."""

from __future__ import annotations

import json

from tests.helpers import FAST_ARGS, cli

import edgepick
from edgepick.store.db import Store
from edgepick.store.result import CANDIDATE_FIELDS


def test_onnx_on_ort_and_openvino_with_threads_and_batches(home, tiny_onnx, fast):
    from edgepick.plan.precision import host_isa_flags, offers
    from edgepick.runtimes.openvino import OpenVino

    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime", "openvino"], threads=[1, 2], batches=[1, 4],
                        timing=fast)
    reduced_here = len(offers(OpenVino.precisions, host_isa_flags(), None)) - 1  # BF16/FP16 rows where native
    assert len(run.rows) == 8 + 4 * reduced_here
    for row in run.rows:
        assert row["status"] == "ok", row
        if row["precision"] != "fp32":  # judged on the accuracy drop (tests/plan/test_precision.py)
            assert row["runtime_details"]["precision_used"] == {"bf16": "bf16", "fp16": "f16"}[row["precision"]]
            continue
        assert row["runtime_details"]["precision_used"] == "f32"
        lat = row["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
        lo, hi = lat["p50_ci95"]
        assert lo <= lat["p50"] <= hi
        assert lat["samples"] >= 5
        assert row["equivalence"]["cosine"] > 0.9999 and row["equivalence"]["top1_agreement"] == 1.0
        assert len(row["cores"]) == row["threads"]
        assert row["peak_rss_mb"] > row["baseline_rss_mb"] > 0
        assert row["size_mb"] > 0 and row["load_s"] > 0 and row["first_inference_ms"] > 0
        assert row["throughput_per_s"] > 0
    ov = [r for r in run.rows if r["runtime"] == "openvino" and r["precision"] == "fp32"][0]
    assert [s["converter"] for s in ov["conversion"]] == ["onnx-to-openvino"]
    assert run.picked is not None and run.picked["batch"] == 1
    assert set(run.reasons) == {r["key"] for r in run.rows} - {run.picked["key"]}
    assert run.fingerprint["model_hash"] == run.model_hash and run.fingerprint["versions"]["onnxruntime"]


def test_json_schema_is_stable(home, tiny_onnx):
    proc = cli("run", str(tiny_onnx), "--runtimes", "onnxruntime", "--json", *FAST_ARGS)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "edgepick.run/1"
    assert doc["pick"] == "onnxruntime/fp32/t2/b1" or doc["pick"].startswith("onnxruntime/fp32/t")
    cand = doc["candidates"][0]
    assert set(CANDIDATE_FIELDS) <= set(cand)
    for field in ("p50", "p90", "p99", "mean", "std"):
        assert isinstance(cand["latency_ms"][field], float)
    for field in ("max_abs_err", "cosine", "top1_agreement"):
        assert field in cand["equivalence"]
    shown = json.loads(cli("show", doc["run_id"], "--json").stdout)
    assert shown["candidates"][0]["latency_ms"] == cand["latency_ms"]


def test_rerun_reuses_rows_and_force_measures_again(home, tiny_onnx, fast):
    first = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], timing=fast)
    again = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], timing=fast)
    assert again.run_id == first.run_id
    assert again.rows[0]["latency_ms"] == first.rows[0]["latency_ms"]
    forced = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], timing=fast, force=True)
    assert forced.run_id != first.run_id
    assert len(Store(f"sqlite:///{home / 'results.db'}").list_runs()) == 2


def test_markdown_and_table_output(home, tiny_onnx):
    proc = cli("run", str(tiny_onnx), "--runtimes", "onnxruntime", "--markdown", *FAST_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert "| runtime |" in proc.stdout and "(pick)" in proc.stdout
    proc = cli("list")
    assert "tiny" in proc.stdout


def test_labels_give_accuracy(home, tiny_onnx, fast):
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(home.parent / "samples.npz", x=rng.standard_normal((20, 1, 8, 8)).astype(np.float32),
             y=rng.integers(0, 10, 20))
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], data="samples.npz", timing=fast)
    acc = run.rows[0]["accuracy"]
    assert acc == run.context["reference_accuracy"] and 0 <= acc <= 1


def test_two_inputs_with_named_shapes(home, tmp_path, fast):
    import onnx
    from onnx import TensorProto, helper

    ids = helper.make_tensor_value_info("ids", TensorProto.FLOAT, ["batch", "seq"])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "seq"])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "seq"])
    graph = helper.make_graph([helper.make_node("Mul", ["ids", "mask"], ["out"])], "g", [ids, mask], [out])
    path = tmp_path / "two_inputs.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    run = edgepick.pick(str(path), runtimes=["onnxruntime", "openvino"], input_shape="ids=1x16,mask=1x16",
                        timing=fast, precisions=["fp32"])
    assert [r["status"] for r in run.rows] == ["ok", "ok"]
    assert run.request["signature"]["inputs"][0]["shape"] == [1, 16]


def test_fixed_batch_model_rejects_larger_batches(home, tmp_path, fast):
    import torch

    model = torch.nn.Linear(4, 2).eval()
    path = tmp_path / "fixed.onnx"
    torch.onnx.export(model, (torch.randn(1, 4),), str(path), input_names=["x"], dynamo=False)
    run = edgepick.pick(str(path), runtimes=["onnxruntime"], batches=[1, 8], timing=fast)
    by_batch = {r["batch"]: r for r in run.rows}
    assert by_batch[1]["status"] == "ok"
    assert by_batch[8]["status"] == "failed" and by_batch[8]["reason_class"] == "unsupported-shape"


def test_import_edgepick_stays_light():
    import subprocess
    import sys

    code = ("import sys, edgepick, edgepick.cli.main, edgepick.core.registry, edgepick.sweep.scheduler; "
            "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'openvino', 'tensorflow') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
