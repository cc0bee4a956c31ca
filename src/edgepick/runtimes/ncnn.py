"""Tencent ncnn, run through its Python binding on a .param/.bin pair written by pnnx.

ncnn's Mat has no batch dimension: a batch of N is N extractor runs, which is how an ncnn app would run it too.
"""

from __future__ import annotations

import numpy as np

from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session

# Reduced-precision switches of ncnn.Option; ncnn turns several on by default where the CPU has fp16/bf16.
_REDUCED_OPTIONS = ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage", "use_bf16_packed")


def in_model_order(names, prefix: str) -> list[str]:
    """pnnx names the model's inputs in0, in1, ... and outputs out0, out1, ... in the model's order, but ncnn lists
    the blobs in the order their layers appear in the .param (seen: a landmark model's second output, computed
    earlier, listed first). Sorted by that number when every name has the form; else as ncnn lists them."""
    names = list(names)
    numbers = [name[len(prefix):] for name in names]
    if all(name.startswith(prefix) and n.isdigit() for name, n in zip(names, numbers)):
        return [name for _, name in sorted(zip(map(int, numbers), names))]
    return names


class _NcnnSession(Session):
    def __init__(self, net, threads):
        self.net = net
        self.threads = threads
        on = {name: bool(getattr(net.opt, name)) for name in _REDUCED_OPTIONS if hasattr(net.opt, name)}
        self.details = {"precision_used": "f32" if not any(on.values()) else
                        "reduced: " + ", ".join(k for k, v in on.items() if v),
                        "precision_source": "ncnn Net.opt read back after load: " +
                        ", ".join(f"{k}={v}" for k, v in on.items()),
                        "shape_mode": "dynamic (ncnn sizes every blob per call; no compile step)"}
        self.inputs = in_model_order(net.input_names(), "in")
        self.outputs = in_model_order(net.output_names(), "out")

    def prepare(self, inputs):
        import ncnn

        arrays = [np.asarray(v, order="C") for v in inputs.values()]
        batch = arrays[0].shape[0]
        # One Mat per sample and input; .clone() so ncnn owns the memory and numpy's buffer may go away.
        return [[ncnn.Mat(a[i]).clone() for a in arrays] for i in range(batch)]

    def run(self, prepared):
        results = []
        for sample in prepared:
            ex = self.net.create_extractor()
            for name, mat in zip(self.inputs, sample):
                ex.input(name, mat)
            outs = []
            for name in self.outputs:
                ret, out = ex.extract(name)
                if ret != 0:
                    raise RuntimeError(f"ncnn extract({name}) returned {ret}")
                outs.append(out)
            results.append(outs)
        return results

    def to_numpy(self, outputs):
        per_output = list(zip(*outputs))
        return [np.stack([np.array(m) for m in mats]) for mats in per_output]

    def close(self):
        self.net.clear()


class Ncnn(Runtime):
    name = "ncnn"
    formats = ("ncnn",)
    import_name = "ncnn"
    distribution = "ncnn"
    extra = "ncnn"
    thread_setting = "Net.opt.num_threads (Vulkan off)"
    description = "Tencent ncnn, CPU, FP32 storage and arithmetic (fp16/bf16 packing off, to compare like with like)"

    def load(self, artifact: Artifact, threads: int) -> Session:
        import ncnn

        net = ncnn.Net()
        net.opt.num_threads = threads
        net.opt.use_vulkan_compute = False
        # ncnn turns on fp16/bf16 storage on CPUs that have it; FP32 is what the row says it measures.
        for option in _REDUCED_OPTIONS:
            if hasattr(net.opt, option):
                setattr(net.opt, option, False)
        if net.load_param(artifact.path) != 0 or net.load_model(artifact.meta["weights"]) != 0:
            raise RuntimeError(f"ncnn could not load {artifact.path}")
        return _NcnnSession(net, threads)
