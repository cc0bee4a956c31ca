from __future__ import annotations

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core.artifact import Artifact


class OnnxToOpenVino(Converter):
    name = "onnx-to-openvino"
    sources = ("onnx",)
    target = "openvino-ir"
    import_name = "openvino"
    distribution = "openvino"
    extra = "openvino"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import openvino as ov

        model = ov.convert_model(artifact.path)
        xml = ctx.out_dir / "model.xml"
        # FP32 stays FP32: compress_to_fp16 would silently change the precision being measured.
        ov.save_model(model, str(xml), compress_to_fp16=False)
        return Artifact("openvino-ir", str(xml), {"extra_files": [str(xml.with_suffix(".bin"))]})
