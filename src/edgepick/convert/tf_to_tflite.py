"""Keras / SavedModel -> .tflite with TensorFlow's own converter (tf.lite.TFLiteConverter), FP32, no optimizations.

A Keras 3 model is first exported as a SavedModel (from_keras_model is for tf.keras 2); a SavedModel is converted
through its serving_default signature. A dynamic batch stays -1 in the .tflite's
shape_signature, so LiteRT resizes it per --batch.
"""

from __future__ import annotations

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core.artifact import Artifact


class TfToTflite(Converter):
    name = "tf-to-tflite"
    sources = ("keras", "tf-savedmodel")
    target = "tflite"
    import_name = "tensorflow"
    distribution = "tensorflow-cpu"
    extra = "tensorflow"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import tensorflow as tf

        out = ctx.out_dir / "model.tflite"
        saved = artifact.path
        if artifact.format == "keras":
            # Keras 3 exports a SavedModel whose variables the converter freezes; converting a concrete function of
            # the live model instead leaves READ_VARIABLE ops that LiteRT cannot run.
            from edgepick.runtimes.tensorflow import load_keras

            saved = str(ctx.out_dir / "saved_model")
            load_keras(artifact).export(saved, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.optimizations = []  # FP32 stays FP32: quantization is a compressor's job, measured as its own row
        out.write_bytes(converter.convert())
        return Artifact("tflite", str(out), {"converter": f"tf.lite.TFLiteConverter (TensorFlow {tf.__version__})",
                                             "input_names": ctx.signature.names})
