"""Torch helpers the torch-side compressors share: load, score in-process, fine-tune, count MACs, export .pt2."""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

import numpy as np

from edgepick.core.artifact import Artifact
from edgepick.runtimes.torch_eager import example_tensors


def load_module(artifact: Artifact):
    from edgepick.runtimes.torch_eager import load_torch_module

    module = load_torch_module(artifact)
    if not hasattr(module, "parameters"):  # an ExportedProgram's module() is a GraphModule: fine
        raise ValueError(f"{artifact.format} did not give an nn.Module")
    return module


def outputs(module, inputs: dict[str, np.ndarray], names: list[str], chunk: int = 128) -> list[np.ndarray]:
    import torch

    module.eval()
    n = len(inputs[names[0]])
    outs = []
    with torch.inference_mode():
        for s in range(0, n, chunk):
            got = module(*(torch.from_numpy(np.ascontiguousarray(inputs[k][s:s + chunk])) for k in names))
            got = (got,) if isinstance(got, torch.Tensor) else tuple(got)
            outs.append([g.detach().numpy() for g in got])
    return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]


def score(module, ctx) -> float:
    return ctx.metric.score(outputs(module, ctx.eval_inputs, ctx.signature.names), ctx.eval_labels, ctx.reference)


def example(ctx, batch: int = 2):
    return example_tensors(ctx.signature, batch)


def macs_params(module, ctx) -> tuple[int, int]:
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(module, example(ctx, 1))
    return int(macs), int(params)


def weights_bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def zipped_bytes(module) -> int:
    """The state_dict's bytes after zlib: what zeros buy on disk or over the wire."""
    buf = io.BytesIO()
    for t in module.state_dict().values():
        buf.write(t.detach().contiguous().numpy().tobytes())
    return len(zlib.compress(buf.getvalue(), 6))


def train(module, x: np.ndarray, y: np.ndarray | None, epochs: int, lr: float = 1e-3, teacher=None,
          temperature: float = 4.0, alpha: float = 0.7, seed: int = 0) -> None:
    """Brief training: cross-entropy on labels, or (with a teacher) KL to its softened outputs mixed with labels."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    xt = torch.from_numpy(np.ascontiguousarray(x))
    yt = torch.from_numpy(np.asarray(y)).long() if y is not None else None
    soft = None
    if teacher is not None:
        teacher.eval()
        with torch.inference_mode():
            soft = torch.cat([teacher(xt[i:i + 256]) for i in range(0, len(xt), 256)]).detach().clone()
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    module.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            logits = module(xt[idx])
            if soft is not None:
                t = temperature
                kd = F.kl_div(F.log_softmax(logits / t, -1), F.softmax(soft[idx] / t, -1), reduction="batchmean") * t * t
                loss = kd if yt is None else alpha * kd + (1 - alpha) * F.cross_entropy(logits, yt[idx])
            else:
                loss = F.cross_entropy(logits, yt[idx])
            loss.backward()
            opt.step()
    module.eval()


def export_pt2(module, ctx, out: Path) -> Artifact:
    """Save as a torch.export program with a dynamic batch (fixed if the model will not trace that way)."""
    import torch

    ex = example(ctx, 2)
    module.eval()
    try:
        dyn = tuple({0: torch.export.Dim("batch", min=1, max=4096)} for _ in ex)
        program = torch.export.export(module, ex, dynamic_shapes=dyn)
    except Exception:
        program = torch.export.export(module, example(ctx, 1))
    tmp = out.with_suffix(f".{os.getpid()}.tmp.pt2")
    torch.export.save(program, tmp)
    os.replace(tmp, out)
    return Artifact("torch-exported", str(out), {"input_names": ctx.signature.names, "weights_bytes": weights_bytes(module)})


def prune_channels(module, ctx, ratio: float):
    """Physically remove `ratio` of each prunable layer's channels with torch-pruning's dependency graph (L2 norm).

    The classifier's output layer is kept whole: its width is the number of classes.
    """
    import torch
    import torch_pruning as tp

    ex = example(ctx, 1)
    with torch.no_grad():
        out = module(*ex)
    n_out = (out if isinstance(out, torch.Tensor) else out[0]).shape[-1]
    ignored = [m for m in module.modules() if isinstance(m, torch.nn.Linear) and m.out_features == n_out]
    pruner = tp.pruner.MagnitudePruner(module, ex, importance=tp.importance.MagnitudeImportance(p=2),
                                       pruning_ratio=ratio, ignored_layers=ignored, iterative_steps=1)
    pruner.step()
    return module
