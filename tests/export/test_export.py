"""`edgepick export`: the exported folder runs on its own and its infer.py reproduces the reference outputs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import edgepick
from edgepick.core.errors import UserError
from edgepick.export.bundle import export_candidate

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


# --- hardening (issue 11): no user text becomes code; a manifest guards the artifact; optional signing ---------------

HOSTILE_NAMES = [
    'q"+__import__("os").system("touch PWNED")+"q.onnx',  # the reported injection
    "q'+__import__('os').system('touch PWNED')+'q.onnx",
    'back\\slash\\"); import os; os.system("touch PWNED") #.onnx',
    "new\nline\nimport os; os.system('touch PWNED')\n.onnx",
    "{artifact}{threads}{{x}}%s.onnx",
    "ünï€ødé-模型-🙂.onnx",
]


def _export_via_cli(run_id: str, folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "export", run_id, "-o", str(folder), *extra], capture_output=True, text=True, timeout=120)


def test_hostile_model_name_end_to_end_runs_no_code(home, tiny_onnx, fast, tmp_path):
    hostile = tmp_path / HOSTILE_NAMES[0]
    hostile.write_bytes(tiny_onnx.read_bytes())
    run = edgepick.pick(str(hostile), runtimes=["onnxruntime"], threads=1, timing=fast)
    folder = tmp_path / "exported"
    proc = _export_via_cli(run.run_id, folder)
    assert proc.returncode == 0, proc.stderr
    assert (folder / HOSTILE_NAMES[0]).exists()
    assert (folder / "infer.py").read_text() == (Path(edgepick.__file__).parent / "export/infer.py").read_text()
    work = tmp_path / "elsewhere"
    work.mkdir()
    outputs, _ = _infer(folder, work)
    assert outputs[0].shape == (1, 10)
    assert not list(tmp_path.rglob("PWNED")), "the file name ran as code"


@pytest.mark.parametrize("name", HOSTILE_NAMES[1:], ids=["single-quotes", "backslashes", "newlines", "braces", "unicode"])
def test_hostile_artifact_names_are_data_not_code(home, tiny_onnx, fast, tmp_path, name):
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, timing=fast)
    # The measured artifact, under a hostile name: what a user's file name would have become.
    renamed = tmp_path / "src" / name
    renamed.parent.mkdir()
    renamed.write_bytes(Path(run.picked["artifact"]["path"]).read_bytes())
    run.picked["artifact"] = dict(run.picked["artifact"], path=str(renamed))
    folder = tmp_path / "exported"
    export_candidate(run, None, folder)
    assert json.loads((folder / "export.json").read_text())["artifact"] == name
    work = tmp_path / "elsewhere"
    work.mkdir()
    outputs, _ = _infer(folder, work)
    assert outputs[0].shape == (1, 10)
    assert not list(tmp_path.rglob("PWNED"))


def _infer_refused(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(folder / "infer.py"), "--repeat", "1", *extra], capture_output=True,
                          text=True, timeout=120, cwd=folder.parent)


def test_manifest_refuses_a_modified_artifact_in_one_line(home, tiny_onnx, fast, tmp_path):
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, timing=fast)
    folder = tmp_path / "exported"
    export_candidate(run, None, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert set(manifest["files"]) == {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert manifest["measured"]["latency_ms"]["p50"] == run.picked["latency_ms"]["p50"]
    assert manifest["fingerprint"]["cpu_model"] == run.fingerprint["cpu_model"]
    artifact = folder / json.loads((folder / "export.json").read_text())["artifact"]
    data = bytearray(artifact.read_bytes())
    data[-1] ^= 0xFF
    artifact.write_bytes(bytes(data))
    proc = _infer_refused(folder)
    assert proc.returncode == 3 and "modified after export" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("tamper", ["export-json", "drop-manifest", "path-escape"])
def test_manifest_refuses_other_tampering(home, tiny_onnx, fast, tmp_path, tamper):
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, timing=fast)
    folder = tmp_path / "exported"
    export_candidate(run, None, folder)
    if tamper == "export-json":  # pointing infer.py at another file is a change to a hashed file
        config = json.loads((folder / "export.json").read_text())
        (folder / "export.json").write_text(json.dumps(dict(config, artifact="../../etc/passwd")))
    elif tamper == "drop-manifest":
        (folder / "manifest.json").unlink()
    else:
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["files"]["../outside.onnx"] = "0" * 64
        (folder / "manifest.json").write_text(json.dumps(manifest))
    proc = _infer_refused(folder)
    assert proc.returncode == 3 and proc.stderr.startswith("infer.py: refusing to run"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_signed_export_verifies_and_a_changed_manifest_does_not(home, tiny_onnx, fast, tmp_path):
    pytest.importorskip("model_signing", reason="export --sign-key needs edgepick[sign] (model-signing)")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "key.pem", tmp_path / "key.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, timing=fast)
    folder = tmp_path / "signed"
    proc = _export_via_cli(run.run_id, folder, "--sign-key", str(private))
    assert proc.returncode == 0, proc.stderr
    assert "signed: manifest.sig" in proc.stdout and (folder / "manifest.sig").exists()
    ok = _infer_refused(folder, "--public-key", str(public))
    assert ok.returncode == 0 and "signature: verified" in ok.stdout, ok.stderr
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    (tmp_path / "other.pub.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo))
    bad = _infer_refused(folder, "--public-key", str(tmp_path / "other.pub.pem"))
    assert bad.returncode == 3 and "signature does not verify" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_unsigned_export_says_how_to_sign(home, tiny_onnx, fast, tmp_path):
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, timing=fast)
    proc = _export_via_cli(run.run_id, tmp_path / "plain")
    assert proc.returncode == 0 and "unsigned:" in proc.stdout
