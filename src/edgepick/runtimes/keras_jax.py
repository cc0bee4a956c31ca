"""Keras 3 on the JAX backend: the same .keras file (identical weights) run by JAX/XLA on CPU.

Keras picks its backend once, at import, from KERAS_BACKEND; each candidate runs in its own worker process, so
import_framework sets it to "jax" before keras is imported. The model runs as one jax.jit-compiled stateless_call
(the Keras-recommended way to serve under JAX); JAX dispatches asynchronously, so run() blocks until the result is
ready or the timer would only see the dispatch.

Threads: XLA reads XLA_FLAGS when its CPU client starts, which can happen as keras is imported, so the launcher sets
it (worker_env) before the process starts; the worker's CPU affinity bounds the pool as for every runtime.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session


class _JaxSession(Session):
    def __init__(self, infer, variables, names, details=None):
        self.details = details
        self.infer = infer
        self.variables = variables
        self.names = names

    def prepare(self, inputs):
        import jax

        names = self.names if all(n in inputs for n in self.names) else list(inputs)
        return [jax.device_put(np.asarray(inputs[n], order="C")) for n in names]

    def compile(self, prepared) -> None:
        """jax.jit traces and XLA compiles on the first call for these shapes: the worker times it as compile_s."""
        self.run(prepared)

    def run(self, prepared):
        import jax

        return jax.block_until_ready(self.infer(*self.variables, prepared))

    def to_numpy(self, outputs):
        if isinstance(outputs, dict):
            outputs = [outputs[k] for k in sorted(outputs)]
        elif not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [np.asarray(o) for o in outputs]


class KerasJax(Runtime):
    name = "keras-jax"
    formats = ("keras",)
    import_name = "jax"
    distribution = "jax"
    extra = "jax"
    thread_setting = "XLA_FLAGS intra_op_parallelism_threads=N (eigen single-threaded at N=1), set before the process starts"
    description = "Keras 3 with the JAX backend: the .keras model as one jax.jit stateless_call, XLA CPU"

    @classmethod
    def is_available(cls) -> bool:
        return importlib.util.find_spec("jax") is not None and importlib.util.find_spec("keras") is not None

    @staticmethod
    def worker_env(threads: int) -> dict[str, str]:
        eigen = "true" if threads > 1 else "false"
        flags = f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={threads}"
        return {"XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " " + flags).strip(), "KERAS_BACKEND": "jax"}

    def import_framework(self) -> None:
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND") != "jax":
            raise errors.CandidateFailure(errors.RUNTIME_ERROR, "keras was imported before its backend could be set to jax")
        os.environ["KERAS_BACKEND"] = "jax"
        import jax  # noqa: F401
        import keras

        if keras.backend.backend() != "jax":
            raise errors.CandidateFailure(errors.RUNTIME_ERROR, f"keras runs on {keras.backend.backend()}, not jax")

    def load(self, artifact: Artifact, threads: int) -> Session:
        import jax
        import keras

        # FP32 pinned: float32 Keras policy, XLA dot/conv at "highest" precision (no reduced-precision passes).
        keras.mixed_precision.set_global_policy("float32")
        jax.config.update("jax_default_matmul_precision", "highest")
        details = {"precision_used": "f32", "precision_source": f"keras policy {keras.mixed_precision.global_policy().name}"
                   f", jax_default_matmul_precision={jax.config.jax_default_matmul_precision}"}
        model = keras.saving.load_model(artifact.path, compile=False, safe_mode=not artifact.meta.get("trusted"))
        names = [t.name for t in model.inputs]
        single = len(names) == 1
        trainable = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def infer(trainable, frozen, xs):
            outputs, _ = model.stateless_call(trainable, frozen, xs[0] if single else list(xs), training=False)
            return outputs

        return _JaxSession(infer, (trainable, frozen), names, details)
