from __future__ import annotations

import contextlib
import importlib
import sys

import numpy as np

from edgepick.core.artifact import Artifact
from edgepick.inputs.torch_dims import example_tensors  # noqa: F401  (convert/onnx_to_torch.py and compress/ import it from here)
from edgepick.runtimes.base import Runtime, Session, run_precision


def load_torch_module(artifact: Artifact):
    """Rebuild the nn.Module an artifact stands for. Pickles are only ever loaded when the user trusted them."""
    import torch

    if artifact.format == "torch-factory":
        sys_path = artifact.meta.get("sys_path")
        if sys_path and sys_path not in sys.path:
            sys.path.insert(0, sys_path)
        module_name, _, attr = artifact.path.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        module = factory()
    elif artifact.format == "torch-exported":
        module = torch.export.load(artifact.path).module()
    elif artifact.format == "torch-pickle":
        if not artifact.meta.get("trusted"):
            raise PermissionError("refusing to unpickle an untrusted file")
        module = torch.load(artifact.path, weights_only=False, map_location="cpu")
    elif artifact.format == "torchscript":  # a user's archive runs its code at load: only when trusted (model_torchscript)
        if not artifact.meta.get("trusted"):
            raise PermissionError("refusing to load an untrusted TorchScript archive")
        module = torch.jit.load(artifact.path, map_location="cpu")
    else:
        raise ValueError(f"not a torch artifact: {artifact.format}")
    if artifact.format != "torch-exported":  # an exported graph is already in inference form; it refuses .eval()
        module.eval()
    return module


def module_to_convert(artifact: Artifact, in_memory=None):
    """The exact nn.Module the reference ran when the sweep holds it, else one rebuilt from the artifact."""
    return in_memory if in_memory is not None else load_torch_module(artifact)


def set_torch_threads(threads: int) -> None:
    """The --threads knob for every PyTorch-family runtime: intra-op threads as asked, inter-op 1."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # can only be set once per process; harmless on a second load
        pass


def pin_torch_precision(precision: str) -> dict:
    """FP32 math stays IEEE FP32 (no TF32/BF16 in oneDNN matmul or conv): set explicitly, then read back into the
    row; a "bf16" row runs under torch.autocast(cpu, bfloat16). Returns the details the row records."""
    import torch

    torch.set_float32_matmul_precision("highest")
    mkldnn = torch.backends.mkldnn
    for backend in ("conv", "rnn"):  # "highest" pins mkldnn.matmul; conv and rnn are pinned here
        if hasattr(getattr(mkldnn, backend, None), "fp32_precision"):
            getattr(mkldnn, backend).fp32_precision = "ieee"
    read_back = {f"mkldnn.{b}.fp32_precision": getattr(getattr(mkldnn, b, None), "fp32_precision", None)
                 for b in ("matmul", "conv", "rnn")}
    read_back["float32_matmul_precision"] = torch.get_float32_matmul_precision()
    details = {"precision_used": "f32", "precision_source": ", ".join(f"{k}={v}" for k, v in read_back.items())}
    if precision == "bf16":
        details = {"precision_used": "bf16", "precision_source": f"torch.autocast('cpu', {torch.get_autocast_dtype('cpu')})"
                   f" around each call (FP32 ops outside autocast's list: {details['precision_source']})"}
    return details


class _TorchSession(Session):
    def __init__(self, module, input_names, precision: str = "fp32", details: dict | None = None):
        self.module = module
        self.input_names = input_names
        self.autocast = precision == "bf16"
        self.details = details

    def prepare(self, inputs):
        import torch

        names = self.input_names or list(inputs)
        return tuple(torch.from_numpy(np.asarray(inputs[n], order="C")) for n in names)

    def run(self, prepared):
        import torch

        with torch.inference_mode(), (torch.autocast("cpu", dtype=torch.bfloat16) if self.autocast
                                      else contextlib.nullcontext()):
            return self.module(*prepared)

    def to_numpy(self, outputs):
        import torch

        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        elif isinstance(outputs, dict):
            outputs = tuple(outputs.values())
        if self.details is not None and "output_dtypes" not in self.details:  # what the outputs really came out as
            self.details["output_dtypes"] = [str(o.dtype) for o in outputs]
        return [o.detach().float().numpy() if o.dtype in (torch.bfloat16, torch.float16) else o.detach().numpy()
                for o in outputs]


class TorchEager(Runtime):
    name = "torch-eager"
    formats = ("torch-factory", "torch-exported", "torch-pickle")
    import_name = "torch"
    distribution = "torch"
    extra = "torch"
    precisions = ("fp32", "bf16")
    thread_setting = "torch.set_num_threads (interop 1)"
    description = "PyTorch eager, FP32 pinned (bf16 rows: torch.autocast); an ExportedProgram runs op by op"

    def load(self, artifact: Artifact, threads: int) -> Session:
        set_torch_threads(threads)
        details = pin_torch_precision(run_precision(artifact))
        return _TorchSession(load_torch_module(artifact), artifact.meta.get("input_names"), run_precision(artifact),
                             details)
