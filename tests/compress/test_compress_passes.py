"""Each compression pass on a tiny model: it runs, writes a loadable artifact, and records what it did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepick.compress.base import CompressContext
from edgepick.compress.calib import calibration_set
from edgepick.compress.metrics import parse_drop, resolve_metric
from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec

HERE = Path(__file__).parent


def separable(n=240, seed=0):
    """Two classes of 8x8 images: bright top half vs bright bottom half, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    x[y == 0, :, :4] += 1.0
    x[y == 1, :, 4:] += 1.0
    return x, y.astype(np.int64)


def tiny_cnn():
    """A trained tiny CNN (deterministic: fixed seed, CPU), the factory the torch passes read."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, padding=1),
                                torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(16 * 64, 32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 2))
    x, y = separable()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step()
    return model.eval()


def _sig():
    return Signature([TensorSpec("input", [None, 1, 8, 8], "float32", batch_dynamic=True)])


def _ctx(tmp_path, options=None, with_reference=None, train=None, tol="2%"):
    x, y = separable(120, seed=1)
    ref = with_reference(x) if with_reference else None
    metric = resolve_metric("top1", True)
    return CompressContext(_sig(), tmp_path, options or {}, {"input": x}, y, ref, metric, parse_drop(tol), train, 1)


def _calib():
    x, _ = separable(64, seed=2)
    return calibration_set(None, {"input": x}, "test", _sig(), size=32)


def _ort(path, x):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def _cos(a, b):
    return float((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("name,options", [("int8-dynamic", {}), ("int8-dynamic", {"per_channel": True}),
                                          ("int8-static", {"method": "minmax"}), ("int8-static", {"method": "entropy"}),
                                          ("int8-static", {"method": "percentile"}), ("fp16-onnx", {}), ("simplify", {})])
def test_onnx_passes(tiny_onnx, tmp_path, name, options):
    pytest.importorskip("onnxruntime")
    from edgepick.core.registry import COMPRESSORS

    cls = COMPRESSORS.get(name)
    if not cls.is_available():
        pytest.skip(f"{cls.distribution} not installed")
    ctx = _ctx(tmp_path, options)
    out = cls().apply(Artifact("onnx", str(tiny_onnx)), _calib(), ctx)
    x = separable(16, seed=5)[0]  # the calibration set's distribution
    got, ref = _ort(out.path, x), _ort(tiny_onnx, x)
    assert got.shape == ref.shape and _cos(got, ref) > 0.97
    if name.startswith("int8"):
        assert Path(out.path).stat().st_size < Path(tiny_onnx).stat().st_size
        import onnx

        ops = {n.op_type for n in onnx.load(out.path).graph.node}
        assert ops & {"QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}
    if name == "int8-static":
        assert ctx.record["method"] == options["method"] and ctx.record["pre_process"] == "quant_pre_process"
    if name == "simplify":
        assert ctx.record["nodes_after_ort"] <= ctx.record["nodes_before"]
    if name == "fp16-onnx":
        assert "FP16" in ctx.record["note"] or "fp16" in ctx.record["note"].lower()


def test_int8_static_keeps_excluded_nodes_float(tiny_onnx, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnx

    from edgepick.compress.passes.int8_static import OrtInt8Static
    from edgepick.compress.passes.onnx_util import quantizable_nodes

    nodes = quantizable_nodes(str(tiny_onnx))
    ctx = _ctx(tmp_path, {"method": "minmax", "nodes_to_exclude": nodes})
    out = OrtInt8Static().apply(Artifact("onnx", str(tiny_onnx)), _calib(), ctx)
    assert ctx.record["nodes_excluded"] == nodes
    kept = [n for n in onnx.load(out.path).graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    assert kept, "excluded nodes should stay as float ops"


def test_openvino_fp16_is_a_runtime_hint_with_an_honest_note(tiny_onnx, tmp_path):
    ov = pytest.importorskip("openvino")
    from edgepick.compress.passes.fp16 import OpenVinoFp16Hint
    from edgepick.runtimes.openvino import OpenVino

    xml = tmp_path / "m.xml"
    ov.save_model(ov.convert_model(str(tiny_onnx)), str(xml))
    ctx = _ctx(tmp_path)
    out = OpenVinoFp16Hint().apply(Artifact("openvino-ir", str(xml)), None, ctx)
    assert out.meta["inference_precision"] == "f16" and out.path == str(xml)
    caps = ctx.record["cpu_capabilities"]
    assert ("no native FP16" in ctx.record["note"]) == ("FP16" not in caps)
    session = OpenVino().load(out, 1)
    x = np.zeros((1, 1, 8, 8), np.float32)
    assert session.to_numpy(session.run(session.prepare({"input": x})))[0].shape == (1, 10)


def _torch_reference(x):
    from edgepick.compress.passes.torch_util import outputs

    return outputs(tiny_cnn(), {"input": x}, ["input"])


def _factory():
    return Artifact("torch-factory", "test_compress_passes:tiny_cnn", {"sys_path": str(HERE)})


@pytest.mark.slow  # trains, prunes and exports with torch.export: seconds each
def test_structured_pruning_loop_records_every_step(tmp_path):
    pytest.importorskip("torch_pruning")
    from edgepick.compress.passes.prune import StructuredPrune

    ctx = _ctx(tmp_path, {"target": 0.5, "step": 0.25, "epochs": 2}, _torch_reference, train=separable(200, seed=3))
    out = StructuredPrune().apply(_factory(), None, ctx)
    its = ctx.record["iterations"]
    assert [i["ratio"] for i in its][:3] == [0.0, 0.25, 0.5]
    assert its[1]["params"] < its[0]["params"] and its[1]["macs"] < its[0]["macs"]
    assert all("score" in i and "passed" in i and "weights_bytes" in i for i in its)
    passing = [i["ratio"] for i in its if i["passed"]]
    assert ctx.record["kept_ratio"] == max(passing)  # the largest ratio that passed, not the first
    import torch

    pruned = torch.export.load(out.path).module()
    assert pruned(torch.zeros(3, 1, 8, 8)).shape == (3, 2)  # dynamic batch, two classes kept whole


@pytest.mark.slow  # trains, prunes and exports with torch.export: seconds each
def test_unstructured_sparsity_reports_zipped_size_not_speed(tmp_path):
    from edgepick.compress.passes.sparsity import MagnitudeSparsity

    ctx = _ctx(tmp_path, {"amount": 0.6}, _torch_reference)
    out = MagnitudeSparsity().apply(_factory(), None, ctx)
    assert ctx.record["weight_zeros_fraction"] == pytest.approx(0.6, abs=0.01)
    assert ctx.record["zipped_bytes_after"] < ctx.record["zipped_bytes_before"]
    assert "no speed-up" in ctx.record["note"]
    assert Path(out.path).exists()


@pytest.mark.slow  # trains, prunes and exports with torch.export: seconds each
def test_distilled_half_width_student(tmp_path):
    pytest.importorskip("torch_pruning")
    from edgepick.compress.passes.distill import Distill

    ctx = _ctx(tmp_path, {"width": 0.5, "epochs": 15}, _torch_reference, train=separable(240, seed=4))
    Distill().apply(_factory(), None, ctx)
    rec = ctx.record
    assert rec["student_params"] < rec["teacher_params"] / 2 and rec["student_macs"] < rec["teacher_macs"]
    assert rec["student_score_in_process"] > 0.9


def test_distillation_without_training_data_says_what_to_pass(tmp_path):
    pytest.importorskip("torch_pruning")
    from edgepick.compress.passes.distill import Distill

    with pytest.raises(ValueError, match="--train-data"):
        Distill().apply(_factory(), None, _ctx(tmp_path, {}))


@pytest.mark.slow  # litert-torch conversion takes seconds
def test_litert_full_integer_runs_in_the_litert_runtime(tmp_path):
    pytest.importorskip("litert_torch")
    pytest.importorskip("ai_edge_quantizer")
    from edgepick.compress.passes.litert_int8 import LitertFullInteger
    from edgepick.convert.base import ConvertContext
    from edgepick.convert.torch_to_litert import TorchToLitert
    from edgepick.runtimes.litert import LiteRt

    (tmp_path / "conv").mkdir()
    flt = TorchToLitert().convert(_factory(), ConvertContext(_sig(), tmp_path / "conv"))
    ctx = _ctx(tmp_path, {}, _torch_reference)
    out = LitertFullInteger().apply(flt, _calib(), ctx)
    assert ctx.record["input_dtype"] == "int8"
    x, y = separable(32, seed=6)
    session = LiteRt().load(out, 1)
    got = np.concatenate([session.to_numpy(session.run(session.prepare({"input": x[i:i + 1]})))[0] for i in range(32)])
    ref = _torch_reference(x)[0]
    assert got.dtype == np.float32 and (got.argmax(1) == ref.argmax(1)).mean() >= 0.9


@pytest.mark.slow  # torch.export twice plus calibration
def test_pt2e_x86_inductor_int8(tmp_path):
    pytest.importorskip("torchao")
    import torch

    from edgepick.compress.passes.pt2e import Pt2eX86Inductor

    ctx = _ctx(tmp_path, {}, _torch_reference)
    out = Pt2eX86Inductor().apply(_factory(), _calib(), ctx)
    program = torch.export.load(out.path)
    text = str(program.graph)
    assert "quantize_per_tensor" in text or "quantize_per_channel" in text
    x, _ = separable(32, seed=7)
    got = program.module()(torch.from_numpy(x)).detach().numpy()
    assert (got.argmax(1) == _torch_reference(x)[0].argmax(1)).mean() >= 0.9
