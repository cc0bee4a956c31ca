"""Reference outputs, computed in the parent process on the eval inputs: the PyTorch module for torch input,
ONNX Runtime for ONNX input. Every candidate is compared with these."""

from __future__ import annotations

import numpy as np

from edgepick.artifact import Artifact


def _chunks(inputs: dict[str, np.ndarray], size: int):
    n = len(next(iter(inputs.values())))
    for start in range(0, n, size):
        yield {k: v[start:start + size] for k, v in inputs.items()}


def reference_outputs(spec, inputs: dict[str, np.ndarray], threads: int) -> tuple[str, list[np.ndarray]]:
    """Return (a description of the reference, its outputs). A fixed batch dim means one sample per call."""
    chunk = 64 if all(t.batch_dynamic for t in spec.signature.inputs) else spec.signature.inputs[0].shape[0]
    if spec.artifact.format in ("keras", "tf-savedmodel", "tflite"):  # TensorFlow for Keras/TF, LiteRT for .tflite
        from edgepick.model_tf import reference_outputs_tf

        return reference_outputs_tf(spec, inputs, threads, chunk)
    if spec.module is not None:
        import torch

        torch.set_num_threads(threads)
        outs = []
        with torch.inference_mode():
            for part in _chunks(inputs, chunk):
                got = spec.module(*(torch.from_numpy(np.ascontiguousarray(part[n])) for n in spec.signature.names))
                got = (got,) if isinstance(got, torch.Tensor) else tuple(got.values() if isinstance(got, dict) else got)
                outs.append([g.detach().numpy() for g in got])
        label = f"PyTorch {torch.__version__} eager FP32 (in-process)"
    elif spec.artifact.format in ("caffe", "darknet"):  # only OpenCV DNN reads these: it is its own reference
        from edgepick.runtimes.opencv_dnn import OpenCvDnn

        session = OpenCvDnn().load(spec.artifact, threads)
        outs = [session.to_numpy(session.run(session.prepare(part))) for part in _chunks(inputs, chunk)]
        label = f"OpenCV DNN {OpenCvDnn.version()} ({spec.artifact.format} is read by no other runtime here; in-process)"
    else:
        from edgepick.runtimes.onnxruntime import OnnxRuntime

        session = OnnxRuntime().load(Artifact("onnx", spec.artifact.path), threads)
        outs = [session.to_numpy(session.run(session.prepare(part))) for part in _chunks(inputs, chunk)]
        import onnxruntime

        label = f"ONNX Runtime {onnxruntime.__version__} CPU FP32 (in-process)"
    return label, [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
