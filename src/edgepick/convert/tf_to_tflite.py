"""Keras / SavedModel -> .tflite with TensorFlow's own converter (tf.lite.TFLiteConverter), FP32, no optimizations.

A Keras 3 model is converted through one concrete tf.function with the resolved input signature (from_keras_model is
for tf.keras 2); a SavedModel through its serving_default signature. A dynamic batch stays -1 in the .tflite's
shape_signature, so LiteRT resizes it per --batch.
"""

from __future__ import annotations

from edgepick.artifact import Artifact
from edgepick.convert.base import ConvertContext, Converter


class TfToTflite(Converter):
    name = "tf-to-tflite"
    sources = ("keras", "tf-savedmodel")
    target = "tflite"
    import_name = "tensorflow"
    distribution = "tensorflow-cpu"
    extra = "tensorflow"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import tensorflow as tf

        from edgepick.convert.tf_to_onnx import tensor_specs

        out = ctx.out_dir / "model.tflite"
        if artifact.format == "tf-savedmodel":
            converter = tf.lite.TFLiteConverter.from_saved_model(artifact.path)
        else:
            from edgepick.runtimes.tensorflow import tf_callable

            call, names, owner = tf_callable(artifact)
            specs = {s.name: s for s in tensor_specs(ctx.signature)}
            ordered = [specs[n] for n in names] if all(n in specs for n in names) else list(specs.values())
            function = tf.function(lambda *xs: call(*xs), input_signature=ordered, autograph=False)
            concrete = function.get_concrete_function()
            converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], owner)
        converter.optimizations = []  # FP32 stays FP32: quantization is a compressor's job, measured as its own row
        out.write_bytes(converter.convert())
        return Artifact("tflite", str(out), {"converter": f"tf.lite.TFLiteConverter (TensorFlow {tf.__version__})",
                                             "input_names": ctx.signature.names})
