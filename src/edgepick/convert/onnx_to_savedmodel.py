"""ONNX -> TensorFlow SavedModel with onnx2tf (in its own venv, as for .tflite): TensorFlow's way in for every input.

onnx2tf builds the TensorFlow graph op by op and saves it with a serving_default signature (-osd), which the
tensorflow runtime calls. Unlike the .tflite edge, the batch stays dynamic: a SavedModel takes any batch size.
The SavedModel is written by the env's TensorFlow (2.19) and loaded by the main environment's (newer) one, which
SavedModel's compatibility guarantee covers.
"""

from __future__ import annotations

from edgepick.artifact import Artifact
from edgepick.convert.base import ConvertContext
from edgepick.convert.onnx_to_tflite import OnnxToTflite, run_onnx2tf


class OnnxToSavedModel(OnnxToTflite):
    name = "onnx2tf-savedmodel"
    sources = ("onnx",)
    target = "tf-savedmodel"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        out_dir = ctx.out_dir / "saved_model"
        run_onnx2tf(self.env, artifact, ctx, out_dir, ["-osd"], lambda: (out_dir / "saved_model.pb").exists())
        for side_output in out_dir.glob("*.tflite"):  # onnx2tf always writes .tflite files too; the .tflite edge has its own
            side_output.unlink()
        files = [str(p) for p in out_dir.rglob("*") if p.is_file()]
        return Artifact("tf-savedmodel", str(out_dir), {"converter": "onnx2tf (own venv)", "extra_files": files,
                                                        "input_names": ctx.signature.names})
