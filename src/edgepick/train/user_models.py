"""A user's own model as `edgepick train MODEL`: a Keras 3 file (.keras) or `module:callable` returning a Keras 3 model
(trained on every Keras backend) or a PyTorch nn.Module (trained on PyTorch, and on Keras' torch backend through
keras.layers.TorchModuleWrapper).

There is no common definition between a user's Keras and PyTorch model, so no initial-weight copy and no forward
cross-check: each framework trains the model's own initial weights (the file's, or the callable's after seeding with
seed 0), identical across that framework's seeds; seeds vary the data order. Everything else (data, split,
optimizer, schedule, batch, loss, epochs, threads) is identical, as for the zoo models. The model is built inside
each isolated worker, never in the parent, so one framework's import cannot leak into another's numbers.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
from pathlib import Path

from edgepick.core import errors
from edgepick.core.errors import UserError

NO_COPY = ("user model: no common definition between frameworks, so no initial-weight copy and no forward "
           "cross-check; each framework trains the model's own initial weights")


def is_user_model(model: str) -> bool:
    return model.endswith(".keras") or ":" in model


def describe(model: str) -> dict:
    """Check the spelling in the parent (one clear line on a mistake) without importing anything of the user's."""
    if model.endswith(".keras"):
        path = Path(model).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"{model}: no such Keras model file")
        return {"kind": "keras-file", "path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    module, _, attr = model.partition(":")
    if not module or not attr or not all(p.isidentifier() for p in module.split(".") + attr.split(".")):
        raise UserError(f"MODEL '{model}' is not a zoo model, a .keras file or module:callable (e.g. mymodels:build)")
    return {"kind": "callable", "spec": model, "sys_path": os.getcwd(),
            "sha256": hashlib.sha256(model.encode()).hexdigest()}


def _call(spec: dict):
    if spec["sys_path"] not in sys.path:
        sys.path.insert(0, spec["sys_path"])  # `module:callable` resolves from the directory edgepick was run in
    module, _, attr = spec["spec"].partition(":")
    target = importlib.import_module(module)
    for part in attr.split("."):
        target = getattr(target, part)
    return target()


def _is_torch_module(obj) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def torch_model(spec: dict, seed: int):
    """The user's nn.Module for the PyTorch trainer, or a row saying why PyTorch cannot train this model."""
    if spec["kind"] == "keras-file":
        raise errors.CandidateFailure(errors.LOAD_ERROR, "a Keras 3 .keras file trains on the Keras backends; "
                                      "PyTorch has no loader for it (give a module:callable returning an nn.Module)")
    import torch

    torch.manual_seed(seed)
    model = _call(spec)
    if not isinstance(model, torch.nn.Module):
        raise errors.CandidateFailure(errors.LOAD_ERROR, f"{spec['spec']} returned {type(model).__name__}, not a "
                                      "torch.nn.Module: it trains on the Keras backends only")
    return model.train()


def keras_model(spec: dict, backend: str, input_hwc: tuple[int, int, int], seed: int):
    """The user's Keras 3 model; an nn.Module wrapped by TorchModuleWrapper on Keras' torch backend."""
    import keras

    keras.utils.set_random_seed(seed)
    if spec["kind"] == "keras-file":
        return keras.saving.load_model(spec["path"], compile=False)  # safe_mode: no arbitrary code from the file
    model = _call(spec)
    if isinstance(model, keras.Model):
        return model
    if not _is_torch_module(model):
        raise errors.CandidateFailure(errors.LOAD_ERROR, f"{spec['spec']} returned {type(model).__name__}: neither a "
                                      "Keras 3 model nor a torch.nn.Module")
    if backend != "torch":
        raise errors.CandidateFailure(errors.LOAD_ERROR, f"a PyTorch nn.Module trains in Keras only on its torch "
                                      f"backend (keras.layers.TorchModuleWrapper), not on {backend}")
    return _wrap_torch_module(model, input_hwc)


def _wrap_torch_module(module, input_hwc: tuple[int, int, int]):
    """A subclassed Keras model around TorchModuleWrapper (a functional one would need the output shape up front)."""
    import keras
    import numpy as np

    class TorchModule(keras.Model):
        def __init__(self, inner):
            super().__init__(name="torch_module")
            self.inner = keras.layers.TorchModuleWrapper(inner)

        def call(self, x):  # Keras feeds channels-last; the module expects PyTorch's NCHW
            return self.inner(keras.ops.transpose(x, (0, 3, 1, 2)))

    wrapped = TorchModule(module)
    wrapped(np.zeros((1, *input_hwc), np.float32))  # builds it, so its initial weights can be kept
    return wrapped
