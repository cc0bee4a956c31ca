"""Shared fixtures: every test gets its own EDGEPICK_HOME and database, and short timing policies."""

from __future__ import annotations

import os

import pytest
from tests.helpers import export_tiny_onnx

from edgepick.core.job import TimingPolicy

# A field a worker writes that core/job.py FIELDS does not declare fails the sweep under test, not only warns
os.environ["EDGEPICK_STRICT_CONTRACT"] = "1"

FAST = TimingPolicy(warmup_count=2, warmup_s=0.0, min_samples=5, min_duration_s=0.05, max_duration_s=5.0)


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "edgepick-home"
    monkeypatch.setenv("EDGEPICK_HOME", str(path))
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture(scope="session")
def zoo_home(tmp_path_factory):
    """A home shared across tests that use digits-cnn, so it is trained once per session."""
    return tmp_path_factory.mktemp("zoo-home")


@pytest.fixture
def fast():
    return FAST


@pytest.fixture
def tiny_onnx(tmp_path):
    """A tiny real ONNX classifier (exported by torch.onnx) with a dynamic batch dimension."""
    return export_tiny_onnx(tmp_path / "tiny.onnx")
