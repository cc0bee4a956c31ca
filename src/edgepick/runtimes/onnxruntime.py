from __future__ import annotations

import numpy as np

from edgepick.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session


class _OrtSession(Session):
    def __init__(self, session):
        self.session = session
        self.output_names = [o.name for o in session.get_outputs()]

    def prepare(self, inputs):
        return {k: np.asarray(v, order="C") for k, v in inputs.items()}

    def run(self, prepared):
        return self.session.run(self.output_names, prepared)

    def to_numpy(self, outputs):
        return [np.asarray(o) for o in outputs]


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    formats = ("onnx",)
    import_name = "onnxruntime"
    distribution = "onnxruntime"
    extra = "onnxruntime"
    thread_setting = "SessionOptions.intra_op_num_threads (inter_op 1, sequential execution)"
    description = "ONNX Runtime, CPU execution provider"

    def load(self, artifact: Artifact, threads: int) -> Session:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(artifact.path, sess_options=opts, providers=["CPUExecutionProvider"])
        return _OrtSession(session)
