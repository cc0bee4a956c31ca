"""digits-cnn: a small CNN trained on scikit-learn's bundled handwritten digits (8x8, 10 classes), offline.

Training takes a few seconds and is cached as a state_dict (loaded with weights_only=True, never unpickled code).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgepick.core.paths import home

SEED = 0
WEIGHTS_VERSION = "v1"


def _splits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]  # N x 1 x 8 x 8, pixels scaled to [0, 1]
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)


def train_set():
    x_train, _, y_train, _ = _splits()
    return x_train, y_train


def eval_set():
    _, x_eval, _, y_eval = _splits()
    return x_eval, y_eval


def architecture(width: int = 16):
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * width * 16, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def _weights_path() -> Path:
    return home() / "zoo" / f"digits-cnn-{WEIGHTS_VERSION}.pt"


def train(epochs: int = 30):
    import torch

    torch.manual_seed(SEED)
    x, y = train_set()
    model = architecture()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model.eval()


def build():
    """The trained module; trains once and caches the weights under $EDGEPICK_HOME/zoo."""
    import torch

    path = _weights_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        model = train()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)  # atomic, so a concurrent worker never reads half a file
    model = architecture()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()
