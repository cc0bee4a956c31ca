"""Factories of real torch modules that misbehave only inside worker processes (never in the test process,
which computes the reference outputs), to exercise the isolation and failure classification."""

from __future__ import annotations

import os
import signal
import time

import torch

PARENT = int(os.environ.get("EDGEPICK_TEST_PARENT", "0"))


def _in_worker() -> bool:
    """A measurement worker only: the reference and the conversions (also in workers now) must see a sane model."""
    role = os.environ.get("EDGEPICK_WORKER_ROLE")
    return role == "measure" if role else os.getpid() != PARENT


class _Base(torch.nn.Module):
    example_input_shape = (1, 4)

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(4, 3)

    def misbehave(self, y):
        return y

    def forward(self, x):
        y = self.linear(x)
        return self.misbehave(y) if _in_worker() else y


class Segfault(_Base):
    def misbehave(self, y):
        os.kill(os.getpid(), signal.SIGSEGV)
        return y


class Hang(_Base):
    def misbehave(self, y):
        time.sleep(3600)
        return y


class Hog(_Base):
    def misbehave(self, y):
        hog = torch.ones(512, 1024, 1024, dtype=torch.uint8)  # 512 MiB, touched
        return y + hog[0, 0, 0]


class Nan(_Base):
    def misbehave(self, y):
        return y * float("nan")


class Wrong(_Base):
    def misbehave(self, y):
        return y + 0.5


def healthy():
    return _Base().eval()


def unseeded():
    """Other weights on every call, as a factory with a forgotten seed gives."""
    module = torch.nn.Linear(4, 3)
    module.example_input_shape = (1, 4)
    return module.eval()


def segfault():
    return Segfault().eval()


def hang():
    return Hang().eval()


def hog():
    return Hog().eval()


def nan():
    return Nan().eval()


def wrong():
    return Wrong().eval()
