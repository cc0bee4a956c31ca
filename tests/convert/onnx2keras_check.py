"""Convert a small ONNX graph with onnx2keras (in the onnx2tf env), run the .keras file on JAX in safe mode, and run
the graph on ONNX Runtime: the onnx2keras converter tests compare the two."""

from __future__ import annotations

import numpy as np
from test_onnx2keras_reach import _keras_on_jax, _ready

from edgepick.core.artifact import Artifact


def keras_and_onnxruntime(path, signature, *xs: np.ndarray, ort_optimizations: bool = True):
    """(outputs of the .keras file onnx2keras makes of the ONNX file at `path`, run on JAX; ONNX Runtime's outputs),
    both fed xs, in the order of signature's inputs. Skips where the onnx2tf env, JAX, Keras or ONNX Runtime is absent.
    ort_optimizations=False: ONNX Runtime runs the graph op by op (no fused or integer kernels)."""
    ort = _ready()
    from edgepick.convert.chain import convert_along

    final, _ = convert_along(["onnx2keras"], Artifact("onnx", str(path)), signature, path.parent / "cache")
    options = ort.SessionOptions()
    if not ort_optimizations:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    want = session.run(None, {spec.name: x for spec, x in zip(signature.inputs, xs)})
    return _keras_on_jax(final.path, *xs), want
