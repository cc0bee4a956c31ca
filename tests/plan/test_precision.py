"""FP32 rows compute FP32 on every runtime, and BF16/FP16 are candidates where the CPU computes them natively.

The offering rule is tested over explicit ISA flag sets (it is pure logic on flags); the sweeps run on this CPU and
branch on its flags: on a CPU with AVX512_BF16/AMX-BF16 the BF16 OpenVINO row is offered by default and OpenVINO
reports bf16 for it; elsewhere it is not offered unless asked for, and then it is labelled predicted slower.
Every FP32 row must report f32 on every CPU (OpenVINO's CPU default is BF16 where the ISA has it).
"""

from __future__ import annotations

import json

import pytest

import edgepick
from edgepick.core.errors import UserError
from edgepick.plan.precision import host_isa_flags, native, offer, offers, parse_precisions

SKYLAKE = ["avx2", "avx512f", "avx512bw", "avx512_vnni"]  # AVX-512 + VNNI, no BF16/FP16 (Cascade Lake class)
ZEN4 = SKYLAKE + ["avx512_bf16"]  # AMD EPYC Genoa: BF16 dot products, no AVX512-FP16
SAPPHIRE = SKYLAKE + ["avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"]
ARM_V82 = ["neon", "asimd", "fphp", "asimdhp", "asimddp"]  # e.g. Cortex-A76: FP16 arithmetic, no BF16
ARM_V86 = ARM_V82 + ["bf16", "i8mm"]


@pytest.mark.parametrize("flags, bf16, fp16", [(SKYLAKE, False, False), (ZEN4, True, False), (SAPPHIRE, True, True),
                                               (ARM_V82, False, True), (ARM_V86, True, True), ([], False, False)])
def test_native_support_follows_the_isa_flags(flags, bf16, fp16):
    assert native("bf16", flags) is bf16 and native("fp16", flags) is fp16 and native("fp32", flags)


def test_default_offers_only_native_reduced_precisions():
    openvino = ("fp32", "bf16", "fp16")
    assert [o.precision for o in offers(openvino, SKYLAKE, None)] == ["fp32"]
    assert [o.precision for o in offers(openvino, ZEN4, None)] == ["fp32", "bf16"]
    assert [o.precision for o in offers(openvino, SAPPHIRE, None)] == ["fp32", "bf16", "fp16"]
    assert [o.precision for o in offers(openvino, ARM_V82, None)] == ["fp32", "fp16"]
    assert [o.precision for o in offers(("fp32",), SAPPHIRE, None)] == ["fp32"]  # a runtime without BF16 offers none


def test_an_explicit_request_offers_emulated_precisions_labelled_slower():
    emulated = offer("bf16", SKYLAKE, ["fp32", "bf16"])
    assert emulated.offered and not emulated.native and emulated.note.startswith("predicted slower here")
    assert "avx512_bf16" in emulated.note
    assert offer("bf16", ZEN4, ["fp32", "bf16"]).native
    assert not offer("fp32", SAPPHIRE, ["bf16"]).offered  # the request is exactly what is measured
    assert not offer("fp16", SAPPHIRE, ["fp32", "bf16"]).offered


def test_parse_precisions():
    assert parse_precisions(None) is None and parse_precisions("auto") is None
    assert parse_precisions("FP32, bf16,bf16") == ["fp32", "bf16"]
    with pytest.raises(UserError, match="unknown precision 'int4'"):
        parse_precisions("fp32,int4")


def test_planner_uses_the_flags_it_is_given(tiny_onnx):
    pytest.importorskip("openvino")
    from edgepick.inputs.model import load_model
    from edgepick.plan.planner import plan

    sig = load_model(str(tiny_onnx)).signature
    on_skylake = plan("onnx", ["openvino"], [1], [1], sig, None, SKYLAKE)
    assert [c.precision for c in on_skylake] == ["fp32"]
    asked = plan("onnx", ["openvino"], [1], [1], sig, ["fp32", "bf16"], SKYLAKE)
    assert [c.key for c in asked] == ["openvino/fp32/t1/b1", "openvino/bf16/t1/b1"]
    assert asked[1].precision_support["native"] is False
    on_sapphire = plan("onnx", ["openvino", "onnxruntime"], [1], [1], sig, None, SAPPHIRE)
    assert [c.key for c in on_sapphire] == ["openvino/fp32/t1/b1", "openvino/bf16/t1/b1", "openvino/fp16/t1/b1",
                                            "onnxruntime/fp32/t1/b1"]


def test_openvino_rows_report_the_precision_they_ran_in_on_this_cpu(home, tiny_onnx, fast):
    pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    run = edgepick.pick(str(tiny_onnx), runtimes=["openvino", "onnxruntime"], threads=1, timing=fast)
    rows = {r["key"]: r for r in run.rows}
    for key in ("openvino/fp32/t1/b1", "onnxruntime/fp32/t1/b1"):  # FP32 is FP32 on every CPU, and close to it
        assert rows[key]["status"] == "ok", rows[key]
        assert rows[key]["runtime_details"]["precision_used"] == "f32", rows[key]["runtime_details"]
        assert rows[key]["equivalence"]["max_abs_err"] < 1e-4
    has_bf16 = native("bf16", host_isa_flags())
    assert ("openvino/bf16/t1/b1" in rows) is has_bf16  # offered by default exactly where native
    if has_bf16:
        bf16 = rows["openvino/bf16/t1/b1"]
        assert bf16["runtime_details"]["precision_used"] == "bf16"
        assert bf16["precision_support"]["native"] is True
        assert bf16["metric"]["name"] == "cosine" and bf16["status"] in ("ok", "disagrees")
    assert ("openvino/fp16/t1/b1" in rows) is native("fp16", host_isa_flags())


def test_an_emulated_bf16_row_is_labelled_and_judged_on_the_metric(home, tiny_onnx, fast):
    """Asked for explicitly, BF16 runs on any CPU: labelled 'predicted slower' where not native, judged on the drop."""
    pytest.importorskip("openvino")
    run = edgepick.pick(str(tiny_onnx), runtimes=["openvino"], threads=1, timing=fast, precisions="fp32,bf16",
                        repeats=2)
    bf16 = next(r for r in run.rows if r["precision"] == "bf16")
    repeat = json.loads((home / "runs" / run.run_id / "repeats" / "openvino_bf16_t1_b1-1" / "result.json").read_text())
    assert repeat["runtime_details"]["precision_used"] == bf16["runtime_details"]["precision_used"]  # kept in repeats
    assert bf16["precision_support"]["native"] is native("bf16", host_isa_flags())
    if not bf16["precision_support"]["native"]:
        assert bf16["precision_support"]["note"].startswith("predicted slower here")
    assert bf16["metric"]["tolerance"] and bf16["metric"]["passed"] is (bf16["status"] == "ok")
    fp32 = next(r for r in run.rows if r["precision"] == "fp32")
    ratio = bf16["latency_ms"]["p50"] / fp32["latency_ms"]["p50"]
    assert bf16["precision_support"]["measured"].startswith(f"p50 {ratio:.2f}x the FP32 row's: "
                                                            f"{'slower' if ratio > 1 else 'faster'}")
    assert bf16["runtime_details"]["precision_used"] in ("bf16", "f32")  # a CPU plugin without BF16 may fall back
    if native("bf16", host_isa_flags()):
        assert bf16["runtime_details"]["precision_used"] == "bf16"


def test_torch_eager_bf16_runs_under_autocast(home, fast):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8)).eval()
    run = edgepick.pick(module, input_shape="1x16", runtimes=["torch-eager"], threads=1, timing=fast,
                        precisions=["fp32", "bf16"])
    fp32, bf16 = (next(r for r in run.rows if r["precision"] == p) for p in ("fp32", "bf16"))
    assert fp32["status"] == "ok" and fp32["runtime_details"]["precision_used"] == "f32"
    assert "float32_matmul_precision=highest" in fp32["runtime_details"]["precision_source"]
    assert fp32["runtime_details"]["output_dtypes"] == ["torch.float32"]
    assert bf16["runtime_details"]["precision_used"] == "bf16"
    assert bf16["runtime_details"]["output_dtypes"] == ["torch.bfloat16"]  # autocast really ran the Linear in BF16
    assert 0 < bf16["equivalence"]["max_abs_err"] < 0.1  # BF16 rounding: not FP32-close, not wrong
    assert bf16["metric"]["passed"] is (bf16["status"] == "ok")


@pytest.mark.slow  # every installed runtime, each in its own worker (TVM compiles, TF and JAX import): minutes
def test_every_runtime_reports_f32_for_fp32_rows(home, fast):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                 torch.nn.Linear(4 * 8 * 8, 10)).eval()
    run = edgepick.pick(module, input_shape="1x3x8x8", threads=1, timing=fast, precisions=["fp32"])
    ran = [r for r in run.rows if r.get("runtime_details")]
    assert len(ran) >= 2, [(r["key"], r["reason"]) for r in run.rows]
    for row in ran:
        assert row["runtime_details"]["precision_used"] == "f32", (row["key"], row["runtime_details"])
        assert row["status"] == "ok", (row["key"], row["reason"])


def test_cli_precision_option(home, tiny_onnx):
    from tests.helpers import FAST_ARGS, cli

    bad = cli("run", str(tiny_onnx), "--runtimes", "openvino", "--precision", "fp32,int4")
    assert bad.returncode == 2 and "unknown precision 'int4'" in bad.stderr and "Traceback" not in bad.stderr
    proc = cli("run", str(tiny_onnx), "--runtimes", "openvino", "--precision", "bf16", "--max-acc-drop", "5%",
               "--threads", "1", "--json", *FAST_ARGS)
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)["candidates"]
    assert row["key"] == "openvino/bf16/t1/b1" and row["precision_support"]["native"] is native("bf16", host_isa_flags())
    assert row["metric"]["tolerance"] == "5% relative"  # --max-acc-drop judges BF16 rows without --compress
