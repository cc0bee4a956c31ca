"""`edgepick export`: the exported folder runs on its own and its infer.py reproduces the reference outputs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import edgepick
from edgepick.errors import UserError
from edgepick.export import export_candidate

CLI = str(Path(sys.executable).with_name("edgepick"))


def _infer(folder: Path, tmp_path: Path) -> tuple[list[np.ndarray], str]:
    out = tmp_path / f"{folder.name}-out.npz"
    # Run from elsewhere, with the venv's python: the folder must not depend on the working directory.
    proc = subprocess.run([sys.executable, str(folder / "infer.py"), "--output", str(out), "--repeat", "3"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as f:
        return [f[k] for k in f.files], proc.stdout


def _reference_onnx(model: Path, inputs: dict) -> list[np.ndarray]:
    import onnxruntime as ort

    return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, inputs)


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_export_and_rerun(home, tiny_onnx, fast, tmp_path, runtime):
    # FP32 only: the exported program is compared with ONNX Runtime at FP32 tolerances
    run = edgepick.pick(str(tiny_onnx), runtimes=[runtime], threads=1, batches=[2], timing=fast, precisions=["fp32"])
    folder = tmp_path / "exported"
    proc = subprocess.run([CLI, "export", run.run_id, "-o", str(folder)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in folder.iterdir()}
    assert {"infer.py", "requirements.txt", "README.md", "example_input.npz"} <= names
    with np.load(folder / "example_input.npz") as f:
        inputs = {k: f[k] for k in f.files}
    assert inputs["input"].shape == (2, 1, 8, 8)
    outputs, stdout = _infer(folder, tmp_path)
    np.testing.assert_allclose(outputs[0], _reference_onnx(tiny_onnx, inputs)[0], atol=1e-4, rtol=1e-3)
    assert "latency over 3 calls" in stdout and "output 0: shape (2, 10)" in stdout
    from importlib import metadata

    assert f"{runtime}=={metadata.version(runtime)}" in (folder / "requirements.txt").read_text()
    readme = (folder / "README.md").read_text()
    p50 = run.picked["latency_ms"]["p50"]
    assert run.picked["key"] in readme and f"| p50 ms | {p50:.3f} |" in readme


@pytest.mark.slow  # torch is imported in five processes (~25 s here); the ONNX cases above cover `make test`
def test_export_a_torch_factory_as_a_standalone_program(home, fast, tmp_path):
    (home.parent / "tinyfactory.py").write_text(textwrap.dedent("""
        import torch

        def build():
            torch.manual_seed(0)
            m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 5)).eval()
            m.example_input_shape = (1, 4, 4)
            return m
    """))
    run = edgepick.pick("tinyfactory:build", runtimes=["torch-eager"], threads=1, timing=fast)
    folder = tmp_path / "torch-export"
    written = export_candidate(run, "torch-eager/fp32/t1/b1", folder)
    assert "model.pt2" in written["files"]
    assert "torch==2.13.0" in (folder / "requirements.txt").read_text()
    outputs, _ = _infer(folder, tmp_path)  # the program loads without tinyfactory.py on the path
    import torch

    sys.path.insert(0, str(home.parent))
    try:
        from tinyfactory import build

        with np.load(folder / "example_input.npz") as f:
            x = f["input"]
        expected = build()(torch.from_numpy(x)).detach().numpy()
    finally:
        sys.path.remove(str(home.parent))
    np.testing.assert_allclose(outputs[0], expected, atol=1e-5)


def test_export_refuses_unknown_candidates_and_busy_folders(home, tiny_onnx, fast, tmp_path):
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, timing=fast)
    with pytest.raises(UserError, match="no candidate 'nope'"):
        export_candidate(run, "nope", tmp_path / "a")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        export_candidate(run, None, busy)
