"""What one training comparison trains and how: the settings every framework shares, recorded with the run."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

from edgepick.core.errors import UserError

SCHEMA = "edgepick.train/1"
TRAIN_MODELS = ("digits-cnn", "mobilenetv2-like")


def _default_threads() -> int:
    return min(2, len(os.sched_getaffinity(0)))


@dataclass
class TrainConfig:
    model: str = "digits-cnn"
    frameworks: list[str] | None = None  # None: every framework variant edgepick knows (frameworks.py)
    epochs: int = 12
    batch: int = 64
    optimizer: str = "adam"  # adam | sgd (momentum 0.9)
    lr: float = 3e-3
    schedule: str = "cosine"  # cosine decay to 0 over all steps of a seed, per step | constant
    seeds: int = 5  # independent trainings per framework for time-to-accuracy (MLPerf drops fastest and slowest)
    target_accuracy: float = 0.95  # held-out accuracy for time-to-accuracy (digits); None for synthetic data
    threads: int = field(default_factory=_default_threads)
    cores: list[int] | None = None
    loader_workers: int = 1  # torch DataLoader / MXNet DataLoader worker processes
    synthetic: str | None = None  # "3x96x96": random images, step time and memory only, no accuracy
    steps: int = 10  # synthetic: measured steps after the first
    num_classes: int = 10
    timeout_s: float = 900.0
    memory_limit: int | None = None
    memory_mechanism: str = "auto"
    deploy: bool = False  # trained models into the inference sweep (slow: every runtime, per framework)
    deploy_runtimes: list[str] | None = None
    check_only: bool = False  # copy the initial weights and check the forward outputs agree, then stop
    broken_copy_for: list[str] = field(default_factory=list)  # tests: these frameworks get a deliberately wrong copy
    force: bool = False
    db_url: str | None = None
    data: str | None = None  # --data: .npz with x/y, module:callable returning (x, y), or an image folder (user_data.py)
    image_shape: str | None = None  # CxHxW an image folder is resized to (default: 1x8x8 for digits-cnn, else as stored)
    data_chw: tuple[int, int, int] | None = None  # set from the data once read (runner._prepare)
    data_sha256: str | None = None  # set by validate()
    user_model: dict | None = None  # set by validate(): a .keras file or module:callable (user_models.py)

    def validate(self) -> None:
        from edgepick.train.frameworks import FRAMEWORKS

        if self.model not in TRAIN_MODELS:
            from edgepick.train.user_models import describe, is_user_model

            if is_user_model(self.model):
                self.user_model = describe(self.model)
        if self.model not in TRAIN_MODELS and self.user_model is None:
            raise UserError(f"edgepick train knows {', '.join(TRAIN_MODELS)}; got '{self.model}'")
        unknown = [f for f in self.frameworks or [] if f not in FRAMEWORKS]
        if unknown:
            raise UserError(f"unknown framework(s) {', '.join(unknown)}; known: {', '.join(FRAMEWORKS)}")
        for name in ("epochs", "batch", "seeds", "threads", "steps"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name} takes a positive integer")
        if self.optimizer not in ("adam", "sgd"):
            raise UserError("--optimizer is adam or sgd")
        if self.schedule not in ("cosine", "constant"):
            raise UserError("--schedule is cosine or constant")
        if self.data is not None:
            from edgepick.train.user_data import data_digest

            if self.synthetic is not None:
                raise UserError("--data and --synthetic exclude each other: train on your data or on random images")
            self.image_chw()
            self.data_sha256 = data_digest(self.data)
        elif self.synthetic is not None:
            self.input_chw()
        elif self.model != "digits-cnn" and self.user_model is None and self.data is None:
            raise UserError(f"{self.model} has no labelled data set here; add --synthetic 3x96x96 (step time and memory)")

    def image_chw(self) -> tuple[int, int, int] | None:
        """The size an image folder is resized to: --image-shape, or digits-cnn's 1x8x8, or None (as stored)."""
        if self.image_shape is None:
            return (1, 8, 8) if self.model == "digits-cnn" else None
        try:
            dims = tuple(int(d) for d in self.image_shape.lower().split("x"))
        except ValueError:
            dims = ()
        if len(dims) != 3 or dims[0] not in (1, 3) or min(dims) < 1:
            raise UserError(f"--image-shape takes CxHxW with C 1 or 3, e.g. 3x32x32; got '{self.image_shape}'")
        return dims

    def input_chw(self) -> tuple[int, int, int]:
        if self.data_chw is not None:
            return tuple(self.data_chw)
        if self.synthetic is None:
            return (1, 8, 8)
        try:
            dims = tuple(int(d) for d in self.synthetic.lower().split("x"))
        except ValueError:
            dims = ()
        if len(dims) != 3 or min(dims) < 1:
            raise UserError(f"--synthetic takes CxHxW, e.g. 3x96x96; got '{self.synthetic}'")
        return dims

    @property
    def has_accuracy(self) -> bool:
        return self.synthetic is None

    def hyperparameters(self) -> dict:
        """What every framework is given, identically (recorded in the run and in --json)."""
        opt = ({"name": "adam", "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8} if self.optimizer == "adam"
               else {"name": "sgd", "momentum": 0.9, "nesterov": False})
        return {"optimizer": opt, "lr": self.lr, "schedule": self.schedule, "batch": self.batch,
                "epochs": self.epochs if self.has_accuracy else 1,
                "loss": "softmax cross-entropy on logits, mean over the batch", "drop_last_batch": True,
                "weight_decay": 0.0, "seeds": list(range(self.seeds)) if self.has_accuracy else [0], "threads": self.threads,
                "target_accuracy": self.target_accuracy if self.has_accuracy else None,
                "steps": None if self.has_accuracy else self.steps, "loader_workers": self.loader_workers}

    def key(self, frameworks: list[str]) -> tuple[str, dict]:
        from edgepick.core.version import __version__

        described = {"kind": "train", "model": self.model, "synthetic": self.synthetic, "frameworks": frameworks,
                     "hyperparameters": self.hyperparameters(), "cores": self.cores,
                     "memory_limit": self.memory_limit, "deploy": self.deploy, "edgepick": __version__}
        if self.data:
            described["data_sha256"] = self.data_sha256
        if self.user_model:
            described["user_model_sha256"] = self.user_model["sha256"]
        if self.check_only:
            described["check_only"] = True
        if self.broken_copy_for:
            described["broken_copy_for"] = sorted(self.broken_copy_for)
        return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest(), described

    def to_dict(self) -> dict:
        return asdict(self)
