"""TensorFlow 2 on CPU: a .keras model wrapped in one tf.function, or a SavedModel's serving_default signature.

Threads: tf.config.threading's intra-op pool gets N threads and the inter-op pool 1. TensorFlow accepts these only
before its runtime is initialised (the first op or variable), so load() sets them before the model is read and a
refusal is a recorded failure, not a silently different setting.
"""

from __future__ import annotations

import os
import re
from importlib import metadata

import numpy as np

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session


def set_tf_threads(threads: int, strict: bool = True) -> bool:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return True
    except RuntimeError as e:  # "... cannot be modified after initialization"
        if strict:
            raise errors.CandidateFailure(errors.RUNTIME_ERROR, f"TensorFlow was initialised before its threads could be set: {e}") from e
        return False


def pin_tf_precision() -> dict:
    """FP32 stays FP32: Keras' mixed-precision policy float32, TF's graph rewrites to (oneDNN) BF16/FP16 off, TF32
    off; set explicitly and read back into the row."""
    import keras
    import tensorflow as tf

    keras.mixed_precision.set_global_policy("float32")
    tf.config.optimizer.set_experimental_options({"auto_mixed_precision": False,
                                                  "auto_mixed_precision_onednn_bfloat16": False,
                                                  "auto_mixed_precision_mkl": False})
    tf.config.experimental.enable_tensor_float_32_execution(False)
    options = tf.config.optimizer.get_experimental_options()
    amp = {k: v for k, v in options.items() if k.startswith("auto_mixed_precision")}
    return {"precision_used": "f32" if not any(amp.values()) and keras.mixed_precision.global_policy().name == "float32"
            else "reduced", "precision_source": f"keras policy {keras.mixed_precision.global_policy().name}, {amp}, "
            f"tf32 {tf.config.experimental.tensor_float_32_execution_enabled()}"}


def load_keras(artifact: Artifact):
    """A .keras file, loaded with Keras' safe mode (no Lambda-layer bytecode) unless the user trusted the file."""
    import keras

    return keras.saving.load_model(artifact.path, compile=False, safe_mode=not artifact.meta.get("trusted"))


def _natural(key: str):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", key)]


def flatten_outputs(outputs) -> list:
    """Tensors in a stable order: a dict by natural key order (output_0, output_1, ..., output_10), else as given."""
    if isinstance(outputs, dict):
        return [outputs[k] for k in sorted(outputs, key=_natural)]
    if isinstance(outputs, (list, tuple)):
        return list(outputs)
    return [outputs]


def tf_callable(artifact: Artifact):
    """(callable taking the inputs positionally in `names` order, names, the object owning the variables) for a
    keras or tf-savedmodel artifact. Keep the owner referenced: the callable's variables live as long as it does."""
    import tensorflow as tf

    if artifact.format == "keras":
        model = load_keras(artifact)
        names = [t.name for t in model.inputs]
        single = len(names) == 1

        @tf.function(autograph=False)
        def call(*xs):
            return model(xs[0] if single else list(xs), training=False)

        return call, names, model
    if artifact.format == "tf-savedmodel":
        loaded = tf.saved_model.load(artifact.path)
        if "serving_default" not in loaded.signatures:
            raise errors.CandidateFailure(errors.LOAD_ERROR, f"the SavedModel has no serving_default signature "
                                          f"(it has: {', '.join(loaded.signatures) or 'none'})")
        signature = loaded.signatures["serving_default"]
        names = sorted(signature.structured_input_signature[1])

        def call(*xs):
            return signature(**dict(zip(names, xs)))

        return call, names, loaded
    raise ValueError(f"not a TensorFlow artifact: {artifact.format}")


class TfSession(Session):
    def __init__(self, call, names, owner, details=None):
        self.details = details
        self.call = call
        self.names = names
        self.owner = owner

    def prepare(self, inputs):
        import tensorflow as tf

        names = self.names if all(n in inputs for n in self.names) else list(inputs)
        return [tf.constant(np.asarray(inputs[n], order="C")) for n in names]

    def compile(self, prepared) -> None:
        """A tf.function traces its graph on the first call for these shapes: the worker times it as compile_s."""
        self.run(prepared)

    def run(self, prepared):
        # Eager TF on CPU returns computed tensors: the call is synchronous, so the timer sees the whole inference.
        return self.call(*prepared)

    def to_numpy(self, outputs):
        return [np.asarray(t.numpy()) for t in flatten_outputs(outputs)]


class TensorFlow(Runtime):
    name = "tensorflow"
    formats = ("keras", "tf-savedmodel")
    import_name = "tensorflow"
    distribution = "tensorflow-cpu"
    extra = "tensorflow"
    thread_setting = "tf.config.threading intra_op N, inter_op 1 (set before the first op)"
    description = "TensorFlow 2 CPU: tf.function over the Keras model, or the SavedModel's serving_default signature"

    @classmethod
    def version(cls) -> str | None:
        for dist in ("tensorflow-cpu", "tensorflow"):
            try:
                return metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
        return None

    def import_framework(self) -> None:
        os.environ["KERAS_BACKEND"] = "tensorflow"  # this worker measures TensorFlow whatever the user's default is
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

    def load(self, artifact: Artifact, threads: int) -> Session:
        set_tf_threads(threads)
        details = pin_tf_precision()
        return TfSession(*tf_callable(artifact), details=details)
