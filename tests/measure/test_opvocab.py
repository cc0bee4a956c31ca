"""The common op vocabulary: every runtime's names land in the same family."""

from __future__ import annotations

import pytest

from edgepick.measure.opvocab import FAMILIES, family, is_depthwise, normalize, top_families


@pytest.mark.parametrize("op_type, expected", [
    ("Conv", "conv"), ("FusedConv", "conv"), ("com.microsoft.FusedConv", "conv"), ("QLinearConv", "conv"),
    ("Convolution", "conv"), ("aten::mkldnn_convolution", "conv"), ("aten::conv2d", "conv"),
    ("aten::_slow_conv2d_forward", "conv"),
    ("aten::_conv_depthwise2d", "depthwise conv"), ("DEPTHWISE_CONV_2D", "depthwise conv"),
    ("MatMul", "matmul/gemm"), ("Gemm", "matmul/gemm"), ("FullyConnected", "matmul/gemm"), ("aten::addmm", "matmul/gemm"),
    ("MatMulInteger", "matmul/gemm"), ("aten::linear", "matmul/gemm"),
    ("Attention", "attention"), ("aten::scaled_dot_product_attention", "attention"),
    ("ScaledDotProductAttention", "attention"),
    ("LayerNormalization", "norm"), ("BatchNormalization", "norm"), ("MVN", "norm"), ("aten::native_layer_norm", "norm"),
    ("Relu", "activation"), ("Clip", "activation"), ("aten::hardtanh_", "activation"), ("Gelu", "activation"),
    ("Softmax", "activation"),
    ("Convolution (NHWC, F32) IGEMM", "conv"), ("Convolution (NHWC, F32) DWConv", "depthwise conv"),
    ("Fully Connected (NC, F32) GEMM", "matmul/gemm"), ("CONV_2D", "conv"), ("FULLY_CONNECTED", "matmul/gemm"),
    ("Softmax (NC, F32)", "activation"), ("Mean (ND) Reduce2", "other"), ("Static Reshape (NC)", "other"),
    ("MaxPool", "other"), ("Reshape", "other"), ("Eltwise", "other"), ("aten::add", "other"), ("Reorder", "other"),
])
def test_family_of_runtime_op_names(op_type, expected):
    assert family(op_type) == expected
    assert expected in FAMILIES


def test_depthwise_flag_only_turns_convolutions_depthwise():
    assert family("Conv", depthwise=True) == "depthwise conv"
    assert family("GroupConvolution", depthwise=True) == "depthwise conv"
    assert family("MatMul", depthwise=True) == "matmul/gemm"


def test_normalize_strips_runtime_prefixes():
    assert normalize("aten::relu_") == "relu_"
    assert normalize("com.microsoft.FusedMatMul") == "fusedmatmul"


def test_is_depthwise_from_group_or_weight_shape():
    assert is_depthwise(32, [32, 1, 3, 3], group=32)
    assert not is_depthwise(32, [64, 32, 1, 1], group=1)
    assert not is_depthwise(32, [64, 8, 3, 3], group=4)  # grouped, not depthwise
    assert is_depthwise(32, [32, 1, 3, 3])  # from shapes alone
    assert not is_depthwise(1, [16, 1, 3, 3])  # a grey image's first conv has one input channel: dense


def test_top_families_sums_and_ranks():
    ops = [{"family": "conv", "ms": 3.0}, {"family": "activation", "ms": 1.0}, {"family": "conv", "ms": 2.0},
           {"family": "other", "ms": 4.0}]
    top = top_families(ops, n=2)
    assert [t["family"] for t in top] == ["conv", "other"]
    assert top[0]["ms"] == 5.0
    assert top[0]["share"] == pytest.approx(0.5)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_runtime_profiles_map_onto_the_vocabulary(runtime, tiny_onnx, tmp_path):
    """A real per-op profile of the tiny Conv-ReLU-Linear model: its conv and gemm land in their families."""
    import numpy as np

    from edgepick.core.artifact import Artifact
    from edgepick.core.registry import RUNTIMES
    from edgepick.worker.profile import profile_ops

    rt = RUNTIMES.get(runtime)
    if not rt.is_available():
        pytest.skip(f"{runtime} is not installed")
    artifact = Artifact("onnx", str(tiny_onnx))
    if runtime == "openvino":
        import openvino as ov

        ov.save_model(ov.convert_model(str(tiny_onnx)), str(tmp_path / "tiny.xml"))
        artifact = Artifact("openvino-ir", str(tmp_path / "tiny.xml"))
    session = rt().load(artifact, threads=1)
    raw = {"input": np.ones((1, 1, 8, 8), np.float32)}
    prof = profile_ops(runtime, artifact, 1, session, raw, runs=3, work_dir=tmp_path)
    assert prof["available"] and prof["total_ms"] > 0
    families = {f["family"] for f in prof["families"]}
    assert "conv" in families and "matmul/gemm" in families
    assert abs(sum(f["share"] for f in prof["families"]) - 1.0) < 1e-6


def test_runtime_without_a_profiler_says_so():
    from edgepick.worker.profile import profile_ops

    prof = profile_ops("tvm", None, 1, None, {}, 1, None)
    assert prof["available"] is False and "no op profiler wired for runtime 'tvm'" in prof["why"]


def test_xnnpack_gemm_nodes_that_are_pointwise_convolutions_count_as_conv():
    from edgepick.worker.profile import align_xnnpack

    records = [("delegate0:0", "Convolution (NHWC, F32) IGEMM", 1.0), ("delegate0:1", "Convolution (NHWC, F32) DWConv", 2.0),
               ("delegate0:2", "Fully Connected (NC, F32) GEMM", 3.0), ("delegate0:3", "Add (ND)", 0.5),
               ("delegate0:4", "Mean (ND) Reduce2", 0.1), ("delegate0:5", "Fully Connected (NC, F32) GEMM", 0.7)]
    graph = ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED"]
    out = align_xnnpack(records, graph)
    assert [family(t) for _, t, _ in out] == ["conv", "depthwise conv", "conv", "other", "other", "matmul/gemm"]
    assert "1x1 CONV_2D run as Fully Connected" in out[2][0] and out[5] == records[5]
    # counts that do not match, or a pair that cannot be the same op: left exactly as the profiler said
    assert align_xnnpack(records, graph[:-1]) == records
    assert align_xnnpack(records, ["CONV_2D", "CONV_2D", "CONV_2D", "FULLY_CONNECTED"]) == records
