"""A common op vocabulary, so per-op profiles from different runtimes can be compared family by family.

Every runtime names its kernels differently (ORT: FusedConv, OpenVINO: GroupConvolution, torch:
aten::mkldnn_convolution). `family()` maps a runtime's op type onto one of FAMILIES. Depthwise convolution is
its own family because it is memory-bound where a dense convolution is compute-bound; callers that can see the
shapes say so with `depthwise=True` (see `is_depthwise`).
"""

from __future__ import annotations

FAMILIES = ("conv", "depthwise conv", "matmul/gemm", "attention", "norm", "activation", "other")

# Lower-cased op types, after stripping a runtime prefix ("aten::", "com.microsoft."); checked in this order.
_EXACT = {
    # convolutions
    "conv": "conv", "fusedconv": "conv", "convinteger": "conv", "qlinearconv": "conv", "convolution": "conv",
    "convolutionbackpropdata": "conv", "convtranspose": "conv", "nhwcconv": "conv", "conv2d": "conv", "conv1d": "conv",
    "conv3d": "conv", "_convolution": "conv", "mkldnn_convolution": "conv", "_nnpack_spatial_convolution": "conv",
    "conv_2d": "conv", "quantized::conv2d": "conv", "quantized::conv2d_relu": "conv", "_slow_conv2d_forward": "conv",
    "thnn_conv2d": "conv", "slow_conv2d_forward": "conv", "convolution_overrideable": "conv", "conv_transpose2d": "conv",
    "groupconvolution": "conv", "_conv_depthwise2d": "depthwise conv", "depthwise_conv_2d": "depthwise conv",
    "depthwiseconv2dnative": "depthwise conv",
    # dense algebra
    "matmul": "matmul/gemm", "gemm": "matmul/gemm", "fusedmatmul": "matmul/gemm", "matmulinteger": "matmul/gemm",
    "qlinearmatmul": "matmul/gemm", "matmulnbits": "matmul/gemm", "dynamicquantizematmul": "matmul/gemm",
    "fullyconnected": "matmul/gemm", "fully_connected": "matmul/gemm", "batch_matmul": "matmul/gemm", "mm": "matmul/gemm",
    "addmm": "matmul/gemm", "bmm": "matmul/gemm", "linear": "matmul/gemm", "baddbmm": "matmul/gemm",
    "einsum": "matmul/gemm", "quantized::linear": "matmul/gemm", "quantized::linear_dynamic": "matmul/gemm",
    "innerproduct": "matmul/gemm", "fully connected": "matmul/gemm", "batch matrix multiply": "matmul/gemm",
    "deconvolution": "conv", "transpose_conv": "conv", "batch_matmul_v2": "matmul/gemm",
    # attention
    "attention": "attention", "multiheadattention": "attention", "groupqueryattention": "attention",
    "scaleddotproductattention": "attention", "scaled_dot_product_attention": "attention",
    "_scaled_dot_product_flash_attention_for_cpu": "attention", "_scaled_dot_product_attention_math": "attention",
    "sdpa": "attention", "packedattention": "attention",
    # normalisation
    "layernormalization": "norm", "skiplayernormalization": "norm", "simplifiedlayernormalization": "norm",
    "batchnormalization": "norm", "instancenormalization": "norm", "groupnormalization": "norm", "mvn": "norm",
    "normalizel2": "norm", "batchnorminference": "norm", "rmsnorm": "norm", "rmsnormalization": "norm",
    "layer_norm": "norm", "native_layer_norm": "norm", "batch_norm": "norm", "native_batch_norm": "norm",
    "_native_batch_norm_legit_no_training": "norm", "_batch_norm_impl_index": "norm", "group_norm": "norm",
    "native_group_norm": "norm", "rms_norm": "norm", "l2_normalization": "norm",
    # activations (elementwise non-linearities; softmax belongs here too)
    "relu": "activation", "relu_": "activation", "relu6": "activation", "clip": "activation", "clamp": "activation",
    "clamp_": "activation", "hardtanh": "activation", "hardtanh_": "activation", "sigmoid": "activation",
    "tanh": "activation", "gelu": "activation", "fastgelu": "activation", "biasgelu": "activation",
    "quickgelu": "activation", "silu": "activation", "silu_": "activation", "swish": "activation",
    "hardswish": "activation", "hardswish_": "activation", "hardsigmoid": "activation", "leakyrelu": "activation",
    "leaky_relu": "activation", "prelu": "activation", "elu": "activation", "mish": "activation",
    "softmax": "activation", "_softmax": "activation", "logsoftmax": "activation", "log_softmax": "activation",
    "_log_softmax": "activation", "softplus": "activation", "logistic": "activation", "erf": "activation",
    "leaky relu": "activation", "hard_swish": "activation",
}


def normalize(op_type: str) -> str:
    """'aten::conv2d' -> 'conv2d', 'com.microsoft.FusedConv' -> 'fusedconv'; quantized:: keeps its namespace."""
    name = op_type.strip().lower()
    if name.startswith("aten::"):
        name = name[len("aten::"):]
    for prefix in ("com.microsoft.", "ai.onnx.", "onnx::", "prim::"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def family(op_type: str, depthwise: bool = False) -> str:
    """The family of one runtime op type. `depthwise` turns a convolution into 'depthwise conv'.

    XNNPACK (LiteRT's CPU delegate) names its nodes "<operator> (<layout>, <type>) <micro-kernel>", e.g.
    "Convolution (NHWC, F32) DWConv": the operator decides the family, a DWConv micro-kernel makes it depthwise.
    """
    name = normalize(op_type)
    if "(" in name:
        depthwise = depthwise or "dwconv" in name.rsplit(")", 1)[-1]
        name = name.split("(", 1)[0].strip()
    fam = _EXACT.get(name, "other")
    if fam == "conv" and depthwise:
        return "depthwise conv"
    return fam


def is_depthwise(input_channels: int | None, weight_shape: list[int] | tuple[int, ...] | None,
                 group: int | None = None) -> bool:
    """A convolution is depthwise when every input channel has its own filter: group == C_in > 1.

    With only the weight shape (C_out, C_in/group, kH, kW) known, C_in/group == 1 with C_out == C_in > 1 means the same.
    A first layer with one input channel ([16, 1, 3, 3] on a grey image) is NOT depthwise: C_in is 1.
    """
    if group is not None and input_channels:
        return group > 1 and group == input_channels
    if not weight_shape or len(weight_shape) < 2 or not input_channels:
        return False
    return weight_shape[1] == 1 and input_channels > 1 and weight_shape[0] % input_channels == 0


def top_families(ops: list[dict], n: int = 5) -> list[dict]:
    """Sum op records ({family, ms}) per family; the n largest with their share of the total, largest first."""
    totals: dict[str, float] = {}
    for op in ops:
        totals[op["family"]] = totals.get(op["family"], 0.0) + op["ms"]
    whole = sum(totals.values()) or 1.0
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])[:n]
    return [{"family": f, "ms": ms, "share": ms / whole} for f, ms in ranked]
