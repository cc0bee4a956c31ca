"""Small ONNX helpers the ONNX-side compressors share: a calibration reader, op counts, in-process scoring."""

from __future__ import annotations

from collections import Counter

import numpy as np

QUANTIZABLE_OPS = ("Conv", "MatMul", "Gemm", "ConvTranspose")


def op_counts(path: str) -> Counter:
    import onnx

    model = onnx.load(path, load_external_data=False)
    return Counter(n.op_type for n in model.graph.node)


def reader(calibration, input_names: list[str]):
    """An ORT CalibrationDataReader over the calibration set, one sample per call."""
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter(calibration.batches(1))

        def get_next(self):
            got = next(self._it, None)
            return None if got is None else {k: got[k] for k in input_names if k in got}

        def rewind(self):
            self._it = iter(calibration.batches(1))

    return _Reader()


def run_onnx(path: str, inputs: dict[str, np.ndarray], threads: int = 1, chunk: int = 64) -> list[np.ndarray]:
    """Outputs of an ONNX file on all `inputs`, in-process (for validation inside search loops, never for rows)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    sess = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    n = len(next(iter(inputs.values())))
    dims = {i.name: i.shape for i in sess.get_inputs()}
    step = chunk if all(not isinstance(d[0], int) for d in dims.values() if d) else 1
    outs = []
    for s in range(0, n, step):
        outs.append(sess.run(None, {k: inputs[k][s:s + step] for k in names}))
    return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]


def quantizable_nodes(path: str) -> list[str]:
    import onnx

    model = onnx.load(path, load_external_data=False)
    return [n.name for n in model.graph.node if n.op_type in QUANTIZABLE_OPS and n.name]
