from __future__ import annotations

import numpy as np

from edgepick.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session


class _OvSession(Session):
    def __init__(self, compiled):
        self.compiled = compiled
        self.request = compiled.create_infer_request()

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


class OpenVino(Runtime):
    name = "openvino"
    formats = ("openvino-ir",)
    import_name = "openvino"
    distribution = "openvino"
    extra = "openvino"
    thread_setting = "INFERENCE_NUM_THREADS (1 stream, sync API)"
    description = "Intel OpenVINO, CPU plugin"

    def load(self, artifact: Artifact, threads: int) -> Session:
        import openvino as ov
        import openvino.properties as props

        core = ov.Core()
        model = core.read_model(artifact.path)
        # The same settings as `benchmark_app -hint none -nstreams 1 -nthreads N`, so the two can be compared.
        config = {props.inference_num_threads: threads, props.num_streams: 1}
        if artifact.meta.get("inference_precision"):  # e.g. "f16", set by the fp16-openvino compression pass
            config[props.hint.inference_precision] = artifact.meta["inference_precision"]
        return _OvSession(core.compile_model(model, "CPU", config))
