"""Intel OpenVINO, CPU plugin, with the row's precision and shapes pinned.

Precision: the CPU plugin's default inference precision is BF16 on CPUs with AVX512_BF16 or AMX (and FP16 on some
ARM cores), so an FP32 row sets INFERENCE_PRECISION_HINT f32 explicitly, and every row records what the compiled
model reports it uses. Shapes: an IR with dynamic dimensions is reshaped to the exact shapes being measured before
compiling, as `benchmark_app -shape` does; a dynamic model is otherwise compiled for any shape and runs slower.
"""

from __future__ import annotations

import numpy as np

from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session, measured_shapes, run_precision, shapes_by_name

# Compiled-model properties recorded per row (the ones benchmark_app's "-hint none -nstreams 1 -nthreads N" sets).
COMPARED_PROPERTIES = ("NUM_STREAMS", "INFERENCE_NUM_THREADS", "INFERENCE_PRECISION_HINT", "PERFORMANCE_HINT",
                       "EXECUTION_MODE_HINT", "ENABLE_CPU_PINNING", "ENABLE_HYPER_THREADING", "SCHEDULING_CORE_TYPE")

# The row's precision -> OpenVINO's element type name for INFERENCE_PRECISION_HINT.
OV_PRECISION = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


class _OvSession(Session):
    def __init__(self, compiled, details: dict):
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.details = details

    def prepare(self, inputs):
        # Bind the tensors once, as benchmark_app does, so the timed call is the bare synchronous infer().
        import openvino as ov

        for name, value in inputs.items():
            self.request.set_tensor(name, ov.Tensor(np.asarray(value, order="C")))
        return None

    def run(self, prepared):
        self.request.infer()
        return self.request

    def to_numpy(self, outputs):
        return [np.array(outputs.get_output_tensor(i).data) for i in range(len(self.compiled.outputs))]


def reshape_to_measured(model, shapes: dict[str, list[int]]) -> str:
    """Reshape the dynamic inputs of `model` to the measured shapes. Returns "static" when every input ends up
    static, else "dynamic" (no shapes known, or a shape that does not fit the model's own bounds)."""
    import openvino as ov

    ports = {inp.get_any_name(): inp for inp in model.inputs}
    wanted = shapes_by_name(list(ports), shapes)
    new = {ports[name]: ov.PartialShape(shape) for name, shape in wanted.items()
           if ports[name].get_partial_shape().is_dynamic
           and ports[name].get_partial_shape().compatible(ov.PartialShape(shape))}
    if new:
        model.reshape(new)
    return "dynamic" if any(inp.get_partial_shape().is_dynamic for inp in model.inputs) else "static"


def compiled_details(compiled, shape_mode: str) -> dict:
    import openvino.properties as props

    used = compiled.get_property(props.hint.inference_precision)
    return {"precision_used": used.get_type_name(),
            "precision_source": "compiled_model.get_property(INFERENCE_PRECISION_HINT)",
            "execution_mode": str(compiled.get_property(props.hint.execution_mode)),
            "compiled_shapes": {inp.get_any_name(): str(inp.get_partial_shape()) for inp in compiled.inputs},
            "shape_mode": shape_mode,
            # as benchmark_app prints them, so a run can be checked against it setting by setting
            "properties": {name: str(compiled.get_property(name)) for name in COMPARED_PROPERTIES}}


class OpenVino(Runtime):
    name = "openvino"
    formats = ("openvino-ir",)
    import_name = "openvino"
    distribution = "openvino"
    extra = "openvino"
    precisions = ("fp32", "bf16", "fp16")
    thread_setting = "INFERENCE_NUM_THREADS (1 stream, sync API)"
    description = "Intel OpenVINO, CPU plugin; inference precision pinned (f32 for FP32 rows), compiled for the measured shapes"

    def load(self, artifact: Artifact, threads: int) -> Session:
        import openvino as ov
        import openvino.properties as props

        core = ov.Core()
        model = core.read_model(artifact.path)
        declared_dynamic = any(inp.get_partial_shape().is_dynamic for inp in model.inputs)
        try:  # the sweep turns the static compile off when it changed the outputs (sweep/static_compile.py)
            shapes = {} if artifact.meta.get("dynamic_shapes") else measured_shapes(artifact)
            shape_mode = reshape_to_measured(model, shapes)
        except Exception as e:  # a graph whose shape logic refuses the reshape still runs dynamic, as before
            model = core.read_model(artifact.path)
            shape_mode = f"dynamic (reshape refused: {(str(e).strip().splitlines() or [type(e).__name__])[0][:160]})"
        # The same settings as `benchmark_app -hint none -nstreams 1 -nthreads N -infer_precision <p>`.
        precision = artifact.meta.get("inference_precision") or OV_PRECISION.get(run_precision(artifact), "f32")
        config = {props.inference_num_threads: threads, props.num_streams: 1,
                  props.hint.inference_precision: precision}  # e.g. "f16" from the fp16-openvino compression pass
        compiled = core.compile_model(model, "CPU", config)
        details = compiled_details(compiled, shape_mode)
        details["static_compile"] = declared_dynamic and shape_mode == "static"  # reshaped from dynamic dimensions
        return _OvSession(compiled, details)
