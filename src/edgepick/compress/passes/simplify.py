"""Graph simplification and fusion as its own pass: onnxslim, then ONNX Runtime's offline optimizer.

ORT is asked for the EXTENDED level offline (fusions that stay valid on any CPU); the ALL level adds layout
transforms tied to the machine that saved them, which ORT's docs say not to ship.
"""

from __future__ import annotations

from edgepick.compress.base import CompressContext, Compressor
from edgepick.compress.passes.onnx_util import op_counts
from edgepick.core.artifact import Artifact


class SimplifyFuse(Compressor):
    name = "simplify"
    family = "simplify"
    input_formats = ("onnx",)
    output_format = "onnx"
    runtimes = ("onnxruntime",)  # ORT fusions can emit com.microsoft ops other runtimes cannot read
    precision = "fp32"
    import_name = "onnxslim,onnxruntime"
    distribution = "onnxslim"
    extra = "compress"
    description = "onnxslim.slim + ORT offline graph optimization (ORT_ENABLE_EXTENDED)"

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        import onnx
        import onnxruntime as ort
        import onnxslim

        before = sum(op_counts(artifact.path).values())
        slim = ctx.out_dir / "model.slim.onnx"
        onnx.save(onnxslim.slim(onnx.load(artifact.path)), str(slim))
        out = ctx.out_dir / "model.simplified.onnx"
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        opts.optimized_model_filepath = str(out)
        opts.log_severity_level = 3
        ort.InferenceSession(str(slim), sess_options=opts, providers=["CPUExecutionProvider"])
        ctx.record.update(nodes_before=before, nodes_after_onnxslim=sum(op_counts(str(slim)).values()),
                          nodes_after_ort=sum(op_counts(str(out)).values()), ort_level="EXTENDED")
        return Artifact("onnx", str(out), {"simplified": True})
