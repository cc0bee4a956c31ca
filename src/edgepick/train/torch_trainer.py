"""PyTorch: an nn.Module trained with a plain loop over a DataLoader, eager or through torch.compile."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from edgepick.inputs.torch_dims import batch_dynamic_shapes
from edgepick.train import data as train_data
from edgepick.train import weights


class TorchTrainer:
    def __init__(self, options: dict):
        self.compile = bool(options.get("compile"))
        self.model = self.step_model = self.optimizer = self.scheduler = None

    def import_framework(self, threads: int) -> str:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)
        return f"torch {torch.__version__}"

    def make_loader(self, x, y, batch: int, seed: int, workers: int):
        return train_data.torch_loader(x, y, batch, seed, workers)

    def iterate(self, loader):
        return iter(loader)

    def build(self, job: dict, state: dict) -> None:
        import torch

        self.job = job
        if job.get("user_model"):
            from edgepick.train.user_models import torch_model

            self.model = torch_model(job["user_model"], 0)
            self.initial = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            self.model = weights.torch_model(job["model"], 0)
            weights.load_into_torch(self.model, state)
        self.step_model = torch.compile(self.model) if self.compile else self.model

    def forward(self, x: np.ndarray) -> np.ndarray:
        import torch

        self.model.eval()
        with torch.no_grad():
            out = self.model(torch.from_numpy(x)).numpy()
        self.model.train()
        return out

    def reset(self, state: dict, total_steps: int) -> None:
        import torch

        if state is None:  # a user's model: back to its own initial weights
            self.model.load_state_dict(self.initial)
        else:
            weights.load_into_torch(self.model, state)  # in place: a compiled module keeps its compiled code
        hp = self.job["hyperparameters"]
        opt, lr = hp["optimizer"], hp["lr"]
        if opt["name"] == "adam":
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr, betas=(opt["beta_1"], opt["beta_2"]),
                                              eps=opt["epsilon"])
        else:
            self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=opt["momentum"])
        cosine = hp["schedule"] == "cosine"
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total_steps) / total_steps)) if cosine else 1.0)

    def fit(self, loader, epochs: int, clock) -> None:
        import torch

        self.model.train()
        loss_fn = torch.nn.functional.cross_entropy
        clock.start()
        for _ in range(epochs):
            for xb, yb in loader:
                self.optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(self.step_model(xb), yb)
                loss.backward()
                self.optimizer.step()
                self.scheduler.step()
                clock.step_end()
            clock.epoch_end()

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.forward(x).argmax(1) == y).mean())

    def save(self, out_dir: Path) -> dict:
        """The trained model as a torch.export program (.pt2): PyTorch's own deployable format."""
        import torch

        self.model.eval()
        example = (torch.from_numpy(np.zeros((2, *self.job["input_chw"]), np.float32)),)
        program = torch.export.export(self.model, example, dynamic_shapes=batch_dynamic_shapes([True]))
        path = out_dir / f"{self.job.get('save_stem', 'model')}.pt2"
        torch.export.save(program, str(path))
        return {"format": "torch-exported", "path": str(path)}
