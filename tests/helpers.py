"""Helpers the tests share: run the CLI as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(*args: str, env: dict | None = None, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "edgepick.cli.main", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


FAST_ARGS = ("--min-duration", "0.05", "--min-samples", "5", "--warmup", "2")


def one_line_error(proc, *needles):
    """A user mistake: exit code 2, no traceback, and exactly one line saying what to do, with each needle in it."""
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr
    assert lines[-1].startswith("edgepick: error:"), proc.stderr
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def export_tiny_onnx(path):
    """A tiny real ONNX classifier (exported by torch.onnx, seed 0) with a dynamic batch dimension, written to path."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 8 * 8, 10)).eval()
    torch.onnx.export(model, (torch.randn(1, 1, 8, 8),), str(path), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}}, dynamo=False)
    return path


def save_float_graph(path, nodes, inputs: dict, outputs: dict, initializers=()):
    """A planted ONNX graph (opset 17, IR 8) of float inputs and outputs, {name: shape} each, written to path."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
                              list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
