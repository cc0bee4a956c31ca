"""PyTorch inputs: a module:callable factory, an nn.Module from Python, a .pt2 ExportedProgram, a trusted pickle."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from tests.helpers import FAST_ARGS, cli

import edgepick


def _tiny():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).eval()


def test_nn_module_from_python_api(home, fast):
    run = edgepick.pick(_tiny(), input_shape="1x6", runtimes=["torch-eager", "onnxruntime", "openvino"],
                        batches=[1, 4], timing=fast)
    assert all(r["status"] == "ok" for r in run.rows), [r["reason"] for r in run.rows]
    assert run.request["input_format"] == "torch-exported"
    ov = next(r for r in run.rows if r["runtime"] == "openvino")
    assert [s["converter"] for s in ov["conversion"]] == ["torch-to-onnx", "onnx-to-openvino"]
    assert all(s["seconds"] > 0 for s in ov["conversion"])


def test_factory_spec_from_the_cli(home):
    shutil.copy(Path(__file__).parents[1] / "misbehaving.py", home.parent / "misbehaving.py")
    proc = cli("run", "misbehaving:healthy", "--runtimes", "torch-eager,onnxruntime", "--json", *FAST_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert '"status": "ok"' in proc.stdout and '"input_format": "torch-factory"' in proc.stdout


def test_factory_needs_a_shape(home):
    (home.parent / "noshape.py").write_text("import torch\n\ndef build():\n    return torch.nn.Linear(3, 2)\n")
    proc = cli("run", "noshape:build")
    assert proc.returncode == 2 and "--input-shape" in proc.stderr


def test_exported_program_file(home, fast):
    path = home.parent / "tiny.pt2"
    batch = torch.export.Dim("batch", min=1, max=64)
    torch.export.save(torch.export.export(_tiny(), (torch.randn(2, 6),), dynamic_shapes=({0: batch},)), path)
    run = edgepick.pick(str(path), runtimes=["torch-eager", "onnxruntime"], batches=[1, 2], timing=fast)
    assert all(r["status"] == "ok" for r in run.rows), [r["reason"] for r in run.rows]


def test_trusted_pickle_loads(home, fast):
    torch.save(_tiny(), home.parent / "whole.pt")
    refused = cli("run", "whole.pt", "--input-shape", "1x6")
    assert refused.returncode == 2 and "--trust-pickle" in refused.stderr
    run = edgepick.pick("whole.pt", trust_pickle=True, input_shape="1x6", runtimes=["torch-eager"], timing=fast)
    assert run.rows[0]["status"] == "ok", run.rows[0]["reason"]


def test_state_dict_pickle_is_explained(home):
    torch.save(_tiny().state_dict(), home.parent / "weights.pth")
    proc = cli("run", "weights.pth", "--trust-pickle")
    assert proc.returncode == 2 and "state_dict" in proc.stderr
