"""ONNX Runtime, CPU execution provider, with FP32 pinned and free dimensions fixed to the measured shapes.

Precision: the CPU EP computes in the graph's own dtypes; the two session options that would trade precision for
speed (flush denormals to zero; BF16 fast-math GEMM on arm64) are set off explicitly and read back into the row.
Shapes: a symbolic dimension (dim_param, e.g. "batch", "height") is overridden with the value being measured
(SessionOptions.add_free_dimension_override_by_name), so the graph optimizer and kernels see static shapes.
"""

from __future__ import annotations

import numpy as np

from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session, measured_shapes, shapes_by_name


# Session config keys that reduce precision when on; both default to "0" today, pinned so a new default cannot slip in.
def session_options(threads: int):
    """ORT's SessionOptions as every edgepick session sets them: `threads` intra-op threads, one inter-op thread,
    sequential execution, all graph optimisations (the runtime, its per-op profile and the machine's peak share it)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


PRECISION_CONFIG = {"session.set_denormal_as_zero": "0", "mlas.enable_gemm_fastmath_arm64_bfloat16": "0"}


class _OrtSession(Session):
    def __init__(self, session, details: dict | None = None):
        self.session = session
        self.output_names = [o.name for o in session.get_outputs()]
        self.details = details

    def prepare(self, inputs):
        return {k: np.asarray(v, order="C") for k, v in inputs.items()}

    def run(self, prepared):
        return self.session.run(self.output_names, prepared)

    def to_numpy(self, outputs):
        return [np.asarray(o) for o in outputs]


def graph_facts(path: str) -> tuple[dict[str, list], str]:
    """({input name: [dim value or dim_param or None]}, the graph's compute precision as its weights say)."""
    import onnx

    model = onnx.load(path, load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    dims = {i.name: [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                     for d in i.type.tensor_type.shape.dim]
            for i in model.graph.input if i.name not in initializers}
    kinds = {t.data_type for t in model.graph.initializer}
    ops = {n.op_type for n in model.graph.node}
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger",
              "DynamicQuantizeLinear"}:
        precision = "int8+f32"
    elif onnx.TensorProto.FLOAT16 in kinds and onnx.TensorProto.FLOAT not in kinds:
        precision = "f16"
    else:
        precision = "f32"
    return dims, precision


def free_dimension_overrides(dims: dict[str, list], shapes: dict[str, list[int]]) -> tuple[dict[str, int], str]:
    """({dim_param: value}, "static" or "dynamic"). A dimension without a name cannot be overridden: stays dynamic."""
    overrides: dict[str, int] = {}
    dynamic = False
    for name, shape in shapes_by_name(list(dims), shapes).items():
        for declared, value in zip(dims[name], shape):
            if isinstance(declared, str):
                overrides.setdefault(declared, int(value))
            elif declared is None or declared == 0:
                dynamic = True
    unresolved = any(isinstance(d, str) and d not in overrides or d is None for ds in dims.values() for d in ds)
    return overrides, "dynamic" if dynamic or unresolved else "static"


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    formats = ("onnx",)
    import_name = "onnxruntime"
    distribution = "onnxruntime"
    extra = "onnxruntime"
    thread_setting = "SessionOptions.intra_op_num_threads (inter_op 1, sequential execution)"
    description = "ONNX Runtime, CPU execution provider; free dimensions fixed to the measured shapes"

    def load(self, artifact: Artifact, threads: int) -> Session:
        import onnxruntime as ort

        opts = session_options(threads)
        for key, value in PRECISION_CONFIG.items():
            opts.add_session_config_entry(key, value)
        try:
            dims, precision = graph_facts(artifact.path)
        except ImportError:  # without the onnx package the graph cannot be read here: shapes stay as declared
            dims, precision = None, "f32 (graph dtypes not inspected: onnx is not installed)"
        overrides, mode = free_dimension_overrides(dims or {}, measured_shapes(artifact))
        mode = mode if dims is not None else "as declared (onnx not installed to read the graph)"
        if artifact.meta.get("dynamic_shapes"):  # the static compile changed the outputs (sweep/static_compile.py)
            overrides, mode = {}, "dynamic (static compile off)"
        for dim_name, value in overrides.items():
            opts.add_free_dimension_override_by_name(dim_name, value)
        session = ort.InferenceSession(artifact.path, sess_options=opts, providers=["CPUExecutionProvider"])
        details = {"precision_used": precision,
                   "precision_source": "the graph's dtypes (CPU EP computes in them); session config read back: " +
                   ", ".join(f"{k}={opts.get_session_config_entry(k)}" for k in PRECISION_CONFIG),
                   "compiled_shapes": {i.name: i.shape for i in session.get_inputs()},
                   "shape_mode": mode,
                   "free_dimension_overrides": overrides}
        return _OrtSession(session, details)
