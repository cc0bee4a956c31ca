"""Keras / SavedModel / .tflite -> ONNX with tf2onnx.

The model is traced as one tf.function with the input signature edgepick resolved (a dynamic batch stays dynamic,
so one .onnx serves every --batch), and the ONNX inputs keep the model's input names so the same eval data feeds it.
"""

from __future__ import annotations

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core.artifact import Artifact

OPSET = 17  # what onnxruntime, OpenVINO and TVM all read; tf2onnx 1.16+ writes it


def tensor_specs(signature):
    import tensorflow as tf

    specs = []
    for t in signature.inputs:
        shape = list(t.shape)
        if t.batch_dynamic and shape:
            shape[0] = None
        specs.append(tf.TensorSpec(shape, tf.as_dtype(t.dtype), name=t.name))
    return specs


class TfToOnnx(Converter):
    name = "tf2onnx"
    sources = ("keras", "tf-savedmodel", "tflite")
    target = "onnx"
    import_name = "tf2onnx"
    distribution = "tf2onnx"
    extra = "tensorflow"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import tf2onnx

        out = ctx.out_dir / "model.onnx"
        if artifact.format == "tflite":
            return self._from_tflite(artifact, ctx, out)
        import tensorflow as tf

        from edgepick.runtimes.tensorflow import tf_callable

        call, names, owner = tf_callable(artifact)
        specs = {s.name: s for s in tensor_specs(ctx.signature)}
        ordered = [specs[n] for n in names] if all(n in specs for n in names) else list(specs.values())
        function = tf.function(lambda *xs: call(*xs), input_signature=ordered, autograph=False)
        tf2onnx.convert.from_function(function, input_signature=ordered, opset=OPSET, output_path=str(out))
        return Artifact("onnx", str(out), {"exporter": f"tf2onnx {tf2onnx.__version__}"})

    @staticmethod
    def _from_tflite(artifact: Artifact, ctx: ConvertContext, out) -> Artifact:
        """tf2onnx reads constants as dense buffers: sparse-weight tensors are densified first (convert/tflite_sparse.py),
        and the artifact says so."""
        import tf2onnx

        from edgepick.convert.tflite_sparse import densify_file

        dense = ctx.out_dir / "densified.tflite"
        sparse = densify_file(artifact.path, dense)
        tf2onnx.convert.from_tflite(str(dense) if sparse else artifact.path, opset=OPSET, output_path=str(out))
        dense.unlink(missing_ok=True)  # a step's folder keeps only its artifact
        meta = {"exporter": f"tf2onnx {tf2onnx.__version__} (tflite)"}
        if sparse:
            meta |= {"source_sparse_tensors": sparse,
                     "note": f"the source .tflite was sparse: {sparse} weight tensor(s) in TFLite's sparsity format, "
                             "densified before tf2onnx (the same values; sparse kernels are LiteRT's alone)"}
        return Artifact("onnx", str(out), meta)
