"""Knowledge distillation: a half-width student (the teacher with half its channels physically removed by
torch-pruning) trained on the teacher's softened outputs (KL at temperature 4) mixed with the labels when given.
"""

from __future__ import annotations

import copy

from edgepick.compress.base import CompressContext, Compressor
from edgepick.compress.passes import torch_util
from edgepick.core.artifact import Artifact


class Distill(Compressor):
    name = "distill"
    family = "distill"
    input_formats = ("torch-factory", "torch-pickle")
    output_format = "torch-exported"
    runtimes = None
    precision = "fp32"
    import_name = "torch_pruning,torch"
    distribution = "torch-pruning"
    extra = "compress"
    options = {"width": "student width as a fraction of the teacher's (default 0.5)",
               "epochs": "training epochs (default 30)", "reinit": "start the student from random weights (default yes)"}
    description = "width-reduced copy of the teacher trained from its soft outputs (KL, T=4) on --train-data"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        return [("distill-half", {"width": 0.5})] if label in ("distill", "distill-half") else []

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        import torch

        if not ctx.train:
            raise ValueError("distillation needs training data: pass --train-data (an .npz x[/y] or module:function)")
        teacher = torch_util.load_module(artifact)
        width = float(ctx.options.get("width", 0.5))
        student = torch_util.prune_channels(copy.deepcopy(teacher), ctx, 1.0 - width)
        if ctx.options.get("reinit", True):  # a fresh student: what it knows comes from the teacher's outputs
            torch.manual_seed(0)
            for m in student.modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        x, y = ctx.train
        epochs = int(ctx.options.get("epochs", 30))
        torch_util.train(student, x, y, epochs=epochs, lr=3e-3, teacher=teacher)
        t_macs, t_params = torch_util.macs_params(teacher, ctx)
        s_macs, s_params = torch_util.macs_params(student, ctx)
        ref = ctx.metric.score(ctx.reference, ctx.eval_labels, ctx.reference)
        ctx.record.update(width=width, epochs=epochs, train_samples=len(x), loss="0.7*KL(T=4) + 0.3*CE" if y is not None
                          else "KL(T=4)", teacher_params=t_params, student_params=s_params, teacher_macs=t_macs,
                          student_macs=s_macs, metric=ctx.metric.name, teacher_score=ref,
                          student_score_in_process=torch_util.score(student, ctx))
        return torch_util.export_pt2(student, ctx, ctx.out_dir / "student.pt2")
