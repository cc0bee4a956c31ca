"""Compressed candidates inside a real sweep: measured by the isolated worker, judged on the accuracy drop, and
reverted layer by layer when a static INT8 model loses too much."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.sweep.scheduler import Request, execute


@pytest.mark.slow  # spawns a worker per candidate
@pytest.mark.parametrize("label", ["int8-static-minmax", "int8-dynamic"])
def test_int8_over_tolerance_reverts_sensitive_nodes_until_it_passes(home, fast, tiny_onnx, tmp_path, label):
    pytest.importorskip("onnxruntime")
    x = np.random.default_rng(0).normal(size=(48, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x)
    run = execute(Request(model=str(tiny_onnx), runtimes=["onnxruntime"], threads=[1], data=str(tmp_path / "d.npz"),
                          timing=fast, compressions=[label], metric="mse",
                          max_acc_drop="0.00000001abs"))  # no quantization error allowed: forces the revert loop
    rows = {r["key"]: r for r in run.rows}
    first = rows[f"onnxruntime/{label}/t1/b1"]
    assert first["status"] == "disagrees" and "absolute" in first["reason"]
    if label.startswith("int8-static"):
        assert first["compression"]["calibration"]["size"] == 48 and first["compression"]["calibration"]["seed"] == 0
    ranked = first["compression"]["sensitivity"]
    assert len(ranked) == 2 and ranked[0]["score_if_float"] >= ranked[1]["score_if_float"]
    reverted = [k for k in rows if k.startswith(f"onnxruntime/{label}-float")]
    assert reverted[0] == f"onnxruntime/{label}-float1/t1/b1"
    k = int(reverted[-1].split("-float")[1].split("/")[0])
    assert rows[reverted[-1]]["compression"]["nodes_excluded"] == [d["node"] for d in ranked[:k]]
    assert rows[reverted[-1]]["status"] == "ok"  # the loop stops at the first k that passes
    for r in run.rows:  # every configuration tried is recorded with its metric, latency and size
        assert r["status"] in ("ok", "disagrees") and r["latency_ms"]["p50"] > 0 and r["size_mb"] > 0
        assert "score" in r["metric"]
    assert run.context["compression"]["tolerance"]["relative"] is False


@pytest.mark.slow
def test_nncf_quantizes_openvino_ir(tiny_onnx, tmp_path):
    ov = pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from edgepick.compress.base import CompressContext
    from edgepick.compress.calib import calibration_set
    from edgepick.compress.metrics import parse_drop, resolve_metric
    from edgepick.compress.passes.nncf_openvino import NncfQuantize
    from edgepick.core.artifact import Artifact
    from edgepick.inputs.signature import Signature, TensorSpec

    xml = tmp_path / "m.xml"
    ov.save_model(ov.convert_model(str(tiny_onnx)), str(xml))
    sig = Signature([TensorSpec("input", [None, 1, 8, 8], "float32", batch_dynamic=True)])
    x = np.random.default_rng(0).normal(size=(40, 1, 8, 8)).astype(np.float32)
    ref = [ov.Core().compile_model(str(xml), "CPU")(x)[0]]
    calib = calibration_set(None, {"input": x}, "test", sig, size=20)
    for options in ({}, {"accuracy_control": True}):
        out_dir = tmp_path / str(len(options))
        out_dir.mkdir()
        ctx = CompressContext(sig, out_dir, options, {"input": x}, None, ref, resolve_metric("cosine", False),
                              parse_drop("0.05abs"))
        out = NncfQuantize().apply(Artifact("openvino-ir", str(xml)), calib, ctx)
        model = ov.Core().read_model(out.path)
        assert any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
        got = ov.Core().compile_model(model, "CPU")(x)[0]
        assert float((got * ref[0]).sum() / np.linalg.norm(got) / np.linalg.norm(ref[0])) > 0.95
        assert ctx.record["algorithm"].startswith("nncf.quantize")
