"""Unstructured magnitude sparsity (torch.nn.utils.prune, global L1): zeros in place, shapes unchanged.

Reported honestly: the dense file is the same size and dense kernels do the same work, so no speed-up is
expected on the runtimes here; what shrinks is the compressed (zlib) size, which is reported next to the dense one.
"""

from __future__ import annotations

from edgepick.compress.base import CompressContext, Compressor
from edgepick.compress.passes import torch_util
from edgepick.core.artifact import Artifact


class MagnitudeSparsity(Compressor):
    name = "sparsity"
    family = "sparsity"
    input_formats = ("torch-factory", "torch-pickle")
    output_format = "torch-exported"
    runtimes = None
    precision = "fp32"
    import_name = "torch"
    distribution = "torch"
    extra = "torch"
    options = {"amount": "fraction of weights zeroed, globally by magnitude (default 0.5)"}
    description = "torch.nn.utils.prune.global_unstructured(L1Unstructured), made permanent"

    @classmethod
    def choices(cls, label: str) -> list[tuple[str, dict]]:
        if label == "sparsity":
            return [("sparsity-0.50", {"amount": 0.5})]
        try:
            return [(label, {"amount": float(label.removeprefix("sparsity-"))})]
        except ValueError:
            return []

    def apply(self, artifact: Artifact, calibration, ctx: CompressContext) -> Artifact:
        import torch
        from torch.nn.utils import prune

        module = torch_util.load_module(artifact)
        dense_zip = torch_util.zipped_bytes(module)
        layers = [(m, "weight") for m in module.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear,
                                                                             torch.nn.Conv1d))]
        amount = float(ctx.options.get("amount", 0.5))
        prune.global_unstructured(layers, pruning_method=prune.L1Unstructured, amount=amount)
        for m, name in layers:
            prune.remove(m, name)  # bake the mask into the weight so the export is a plain dense model
        total = sum(m.weight.numel() for m, _ in layers)
        zeros = sum(int((m.weight == 0).sum()) for m, _ in layers)
        ctx.record.update(amount=amount, weight_zeros_fraction=zeros / total if total else 0.0,
                          dense_bytes=torch_util.weights_bytes(module), zipped_bytes_before=dense_zip,
                          zipped_bytes_after=torch_util.zipped_bytes(module),
                          note="zeros stored densely: same file size and no speed-up on dense kernels; the zipped "
                               "size shows what sparse storage could save")
        return torch_util.export_pt2(module, ctx, ctx.out_dir / "sparse.pt2")
