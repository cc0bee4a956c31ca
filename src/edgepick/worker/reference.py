"""The reference outputs every candidate is compared with, computed inside a capped worker (the `reference` task of
worker/tasks.py; the parent keeps only the arrays): the PyTorch module for torch input, TensorFlow or LiteRT for
Keras/SavedModel/.tflite, OpenCV DNN for Caffe/Darknet, ONNX Runtime for everything else, all FP32."""

from __future__ import annotations

import numpy as np

from edgepick.core.artifact import Artifact
from edgepick.core.errors import UserError
from edgepick.inputs.data import join_outputs, parts


def reference_outputs(spec, inputs: dict[str, np.ndarray], threads: int) -> tuple[str, list[np.ndarray]]:
    """Return (a description of the reference, its outputs). A fixed batch dim means one sample per call; a model
    without a batch axis (a 0-d input, a recurrent state beside the signal) gets one whole input set per call."""
    try:
        return _reference_outputs(spec, inputs, threads)
    except UserError:
        raise
    except ImportError as e:  # the framework the reference needs is missing: not the model's fault
        raise UserError(f"computing the reference for {spec.artifact.format} input needs {e.name or e}; install it "
                        "(see `edgepick doctor`)") from e
    except Exception as e:  # the model as given cannot run on these inputs: nothing can be compared with it
        text = " ".join(str(e).split())[:300] or type(e).__name__
        fixed = [t.name for t in spec.signature.inputs if t.value is not None]
        hint = "give real inputs with --data" + ("" if fixed else ", or fixed values with --input-value NAME=VALUE "
                                                  "(e.g. a sample rate: --input-value sr=16000)")
        raise UserError(f"the model itself ({spec.artifact.format}) fails on the eval inputs, so there are no reference "
                        f"outputs to compare with ({type(e).__name__}: {text}); {hint}") from e


def _reference_outputs(spec, inputs: dict[str, np.ndarray], threads: int) -> tuple[str, list[np.ndarray]]:
    sig = spec.signature
    whole = sig.whole_feeds
    chunk = 64 if whole or all(t.batch_dynamic for t in sig.inputs) else sig.inputs[0].shape[0]
    if spec.artifact.format in ("keras", "tf-savedmodel", "tflite"):  # TensorFlow for Keras/TF, LiteRT for .tflite
        return reference_outputs_tf(spec, inputs, threads, chunk)
    if spec.module is not None:
        import torch

        torch.set_num_threads(threads)
        outs = []
        with torch.inference_mode():
            for part in parts(inputs, whole, chunk):
                got = spec.module(*(torch.from_numpy(np.asarray(part[n], order="C")) for n in sig.names))
                got = (got,) if isinstance(got, torch.Tensor) else tuple(got.values() if isinstance(got, dict) else got)
                outs.append([g.detach().numpy() for g in got])
        label = f"PyTorch {torch.__version__} {_torch_kind(spec)} FP32 (in-process)"
    elif spec.artifact.format in ("caffe", "darknet"):  # only OpenCV DNN reads these: it is its own reference
        from edgepick.runtimes.opencv_dnn import OpenCvDnn

        session = OpenCvDnn().load(spec.artifact, threads)
        outs = [session.to_numpy(session.run(session.prepare(part))) for part in parts(inputs, whole, chunk)]
        label = f"OpenCV DNN {OpenCvDnn.version()} ({spec.artifact.format} is read by no other runtime here; in-process)"
    else:
        from edgepick.runtimes.onnxruntime import OnnxRuntime

        session = OnnxRuntime().load(Artifact("onnx", spec.artifact.path), threads)
        outs = [session.to_numpy(session.run(session.prepare(part))) for part in parts(inputs, whole, chunk)]
        import onnxruntime

        label = f"ONNX Runtime {onnxruntime.__version__} CPU FP32 (in-process)"
    return label, join_outputs(outs, whole)


def _torch_kind(spec) -> str:
    return "TorchScript ScriptModule" if spec.artifact.format == "torchscript" else "eager"


def reference_outputs_tf(spec, inputs: dict[str, np.ndarray], threads: int, chunk: int) -> tuple[str, list[np.ndarray]]:
    """TensorFlow for Keras/SavedModel input, LiteRT for .tflite input; in-process, like the other references."""
    if spec.artifact.format == "tflite":
        from ai_edge_litert import __version__ as litert_version

        from edgepick.runtimes.litert import LiteRt

        session = LiteRt().load(spec.artifact, threads)
        label = f"LiteRT {litert_version} Interpreter FP32 (in-process)"
    else:
        import tensorflow as tf

        from edgepick.runtimes.tensorflow import TfSession, set_tf_threads, tf_callable

        set_tf_threads(threads, strict=False)  # the model was read already: TF may be initialised, harmless here
        session = TfSession(*tf_callable(spec.artifact))
        label = f"TensorFlow {tf.__version__} FP32 (in-process)"
    whole = spec.signature.whole_feeds
    outs = [session.to_numpy(session.run(session.prepare(part))) for part in parts(inputs, whole, chunk)]
    return label, join_outputs(outs, whole)
