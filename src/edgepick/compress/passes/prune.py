"""Structured channel pruning with torch-pruning's dependency graph, in the accuracy-controlled loop:

1. prune a step (from the original weights, to the next ratio);  2. fine-tune briefly if training data is given;
3. validate on the eval data;  4. over tolerance -> back off once to the midpoint with the last passing ratio;
5. keep the largest ratio that passed. Every iteration is recorded (ratio, metric, drop, params, MACs, size), and
each is exported so the sweep measures its latency in the isolated worker like any candidate.
"""

from __future__ import annotations

import copy

from edgepick.compress.base import CompressContext, Compressor
from edgepick.compress.passes import torch_util
from edgepick.core.artifact import Artifact


def ratio_label(ratio: float) -> str:
    return f"prune-{ratio:.2f}"


class StructuredPrune(Compressor):
    name = "prune"
    family = "prune"
    input_formats = ("torch-factory", "torch-pickle")
    output_format = "torch-exported"
    runtimes = None
    precision = "fp32"
    import_name = "torch_pruning,torch"
    distribution = "torch-pruning"
    extra = "compress"
    options = {"target": "the largest channel ratio to try (default 0.5)", "step": "ratio step (default 0.1)",
               "epochs": "fine-tuning epochs per step when training data is given (default 5)"}
    description = "torch-pruning DependencyGraph + MagnitudePruner (L2), channels physically removed, in a loop"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        if label == "prune":
            return [("prune", {"target": 0.5, "step": 0.1})]
        try:
            return [(label, {"target": float(label.removeprefix("prune-")), "step": 0.1})]
        except ValueError:
            return []

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        original = torch_util.load_module(artifact)
        target, step = float(ctx.options.get("target", 0.5)), float(ctx.options.get("step", 0.1))
        epochs = int(ctx.options.get("epochs", 5))
        ref_score = ctx.metric.score(ctx.reference, ctx.eval_labels, ctx.reference)
        macs0, params0 = torch_util.macs_params(original, ctx)
        iterations = [{"ratio": 0.0, "score": torch_util.score(original, ctx), "drop": 0.0, "passed": True,
                       "params": params0, "macs": macs0, "weights_bytes": torch_util.weights_bytes(original),
                       "fine_tuned": False}]
        ratios = [round(step * i, 4) for i in range(1, int(round(target / step)) + 1)]
        if not ratios or abs(ratios[-1] - target) > 1e-9:
            ratios.append(target)
        best, last_pass = None, 0.0
        queue = list(ratios)
        backed_off = False
        while queue:
            ratio = queue.pop(0)
            model, it = self._one(original, ratio, epochs, ref_score, ctx)
            it["path"] = str((torch_util.export_pt2(model, ctx, ctx.out_dir / f"{ratio_label(ratio)}.pt2")).path)
            iterations.append(it)
            if it["passed"]:
                best, last_pass = it, ratio
            elif not backed_off:  # back off once, halfway to the last ratio that passed, then stop
                backed_off = True
                mid = round((last_pass + ratio) / 2, 4)
                queue = [mid] if mid > last_pass + 1e-6 else []
            else:
                queue = []
        ctx.record.update(metric=ctx.metric.name, reference_score=ref_score, tolerance=ctx.tolerance.describe(),
                          iterations=[{k: v for k, v in i.items() if k != "path"} for i in iterations],
                          kept_ratio=best["ratio"] if best else None, target=target,
                          fine_tuning=f"{epochs} epochs per step" if ctx.train else "none (no --train-data)")
        ctx.record["iteration_artifacts"] = {ratio_label(i["ratio"]): i["path"] for i in iterations if "path" in i}
        chosen = best or iterations[-1]
        return Artifact("torch-exported", chosen["path"], {"input_names": ctx.signature.names,
                                                           "weights_bytes": chosen["weights_bytes"]})

    def _one(self, original, ratio: float, epochs: int, ref_score: float, ctx: CompressContext):
        model = copy.deepcopy(original)
        torch_util.prune_channels(model, ctx, ratio)
        if ctx.train:
            x, y = ctx.train
            # Fine-tune from the unpruned model's soft outputs (plus labels when given): recovers more than labels alone.
            torch_util.train(model, x, y, epochs=epochs, teacher=original)
        s = torch_util.score(model, ctx)
        macs, params = torch_util.macs_params(model, ctx)
        return model, {"ratio": ratio, "score": s, "drop": ctx.tolerance.drop(ref_score, s),
                       "passed": ctx.tolerance.passes(ref_score, s), "params": params, "macs": macs,
                       "weights_bytes": torch_util.weights_bytes(model), "fine_tuned": bool(ctx.train)}
