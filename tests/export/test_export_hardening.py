"""Issue 22's bundle findings: planted modules beside a signed bundle, a model replaced after its run, export paths
that cannot be folders, infer.py's own input mistakes, and an interrupted run's export."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.helpers import FAST_ARGS, cli, export_tiny_onnx, one_line_error

from edgepick.core.errors import UserError

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One sweep on a tiny ONNX model: (run id, env, root)."""
    root = tmp_path_factory.mktemp("export-hardening")
    path = export_tiny_onnx(root / "tiny.onnx")
    env = {"EDGEPICK_HOME": str(root / "home")}
    res = cli("run", str(path), "--runtimes", "onnxruntime", "--threads", "1", "--precision", "fp32", *FAST_ARGS,
              "--no-noise-retry", "--json", env=env, cwd=root)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout)["run_id"], env, root


def _export(swept, folder: Path, *extra: str) -> subprocess.CompletedProcess:
    run_id, env, root = swept
    return cli("export", run_id, "-o", str(folder), *extra, env=env, cwd=root, timeout=120)


def _infer(folder: Path, *extra: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(folder / "infer.py"), "--repeat", "1", *extra], capture_output=True,
                          text=True, timeout=120, cwd=cwd or folder)


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "key.pem", tmp_path / "key.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.mark.parametrize("planted", ["onnxruntime.py", "numpy.py", "json.py", "numpy/__init__.py"])
def test_planted_modules_beside_a_signed_bundle_are_refused_and_never_imported(swept, tmp_path, planted):
    """Finding 1: a module beside infer.py ran under "signature: verified" (numpy.py before any check)."""
    pytest.importorskip("model_signing", reason="signing needs edgepick[sign] (model-signing)")
    private, public = _keys(tmp_path)
    folder = tmp_path / "signed"
    assert _export(swept, folder, "--sign-key", str(private)).returncode == 0
    assert _infer(folder, "--public-key", str(public)).returncode == 0  # the untouched bundle runs
    marker = tmp_path / "PLANTED-CODE-RAN"
    target = folder / planted
    target.parent.mkdir(exist_ok=True)
    target.write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    for cwd in (folder, tmp_path):  # run from the bundle's folder and from elsewhere
        proc = _infer(folder, "--public-key", str(public), cwd=cwd)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "not in manifest.json" in proc.stderr and planted.split("/")[0] in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "signature: verified" not in proc.stdout
        assert not marker.exists(), "the planted module was imported"


def test_the_bundle_never_imports_from_its_folder(swept, tmp_path):
    """Even a module that passes the listing (simulated by running infer.py's path cleaning alone) is not found."""
    folder = tmp_path / "plain"
    assert _export(swept, folder).returncode == 0
    source = (folder / "infer.py").read_text()
    cleaning = source[:source.index("import argparse")]
    (folder / "onnxruntime.py").write_text("raise SystemExit('planted module imported')\n")
    probe = folder / "probe.py"  # a script in the same folder, with infer.py's first lines
    probe.write_text(cleaning + "import importlib.util\nprint(importlib.util.find_spec('onnxruntime').origin)\n")
    proc = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, timeout=60, cwd=folder)
    assert proc.returncode == 0 and str(folder) not in proc.stdout, proc.stdout + proc.stderr


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    wrong_names = tmp_path / "wrong.npz"
    np.savez(wrong_names, pixels=np.zeros((1, 1, 8, 8), np.float32))
    objects = tmp_path / "objects.npz"
    np.savez(objects, input=np.array([{"a": 1}, None], dtype=object))
    single = tmp_path / "single.npy"
    np.save(single, np.zeros((1, 1, 8, 8), np.float32))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    shape = tmp_path / "shape.npz"
    np.savez(shape, input=np.zeros((1, 3, 5), np.float32))
    return {"missing": tmp_path / "nope.npz", "wrong-names": wrong_names, "object-array": objects, "npy": single,
            "garbage": garbage, "wrong-shape": shape}


@pytest.mark.parametrize("case", ["missing", "wrong-names", "object-array", "npy", "garbage", "wrong-shape"])
def test_infer_input_mistakes_are_one_line(swept, tmp_path, case):
    """Finding 12: a missing --input, an object-array .npz or wrong input names ended in tracebacks."""
    folder = tmp_path / "bundle"
    assert _export(swept, folder).returncode == 0
    proc = _infer(folder, "--input", str(_bad_inputs(tmp_path)[case]), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("infer.py: error:") and "Traceback" not in proc.stderr, proc.stderr


def test_outputs_kept_beside_infer_py_are_allowed(swept, tmp_path):
    """The README's `python infer.py --output out.npz` in the folder keeps working (data, never imported)."""
    folder = tmp_path / "bundle"
    assert _export(swept, folder).returncode == 0
    assert _infer(folder, "--output", "out.npz").returncode == 0
    proc = _infer(folder, "--input", "out.npz")  # the outputs are not the inputs: one line, but not a refusal
    assert proc.returncode == 2 and "refusing" not in proc.stderr
    assert _infer(folder).returncode == 0


@pytest.mark.parametrize("where", ["proc", "under-a-file", "a-file"])
def test_export_to_a_path_that_cannot_be_a_folder_is_one_line(swept, tmp_path, where):
    """Finding 12: -o /proc/x, -o afile/sub and -o existingfile gave tracebacks."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"proc": Path("/proc/edgepick-x"), "under-a-file": afile / "sub", "a-file": afile}[where]
    one_line_error(_export(swept, out), str(out))


def test_exporting_an_interrupted_run_says_so(swept, tmp_path):
    """Finding 13: an interrupted run's README said "This is the run's pick." with no warning."""
    from edgepick.store.db import Store
    from edgepick.store.schema import RunRow

    run_id, env, root = swept
    store = Store(f"sqlite:///{Path(env['EDGEPICK_HOME']) / 'results.db'}")
    with store.session() as s:
        s.get(RunRow, run_id).status = "running"
        s.commit()
    try:
        res = _export(swept, tmp_path / "bundle")
    finally:
        with store.session() as s:
            s.get(RunRow, run_id).status = "done"
            s.commit()
    assert res.returncode == 0, res.stderr
    assert "warning: INCOMPLETE run" in res.stderr
    assert "INCOMPLETE run" in (tmp_path / "bundle" / "README.md").read_text()


def test_a_model_replaced_after_its_run_is_refused_by_export_and_serve(home, fast, tmp_path):
    """Finding 4: export shipped (and serve loaded) the new file under the old run's figures."""
    import edgepick
    from edgepick.export.bundle import export_candidate

    model = export_tiny_onnx(tmp_path / "mine.onnx")
    run = edgepick.pick(str(model), runtimes=["onnxruntime"], threads=1, timing=fast, precisions=["fp32"])
    shutil.copyfile(export_tiny_onnx(tmp_path / "other.onnx"), model)  # same bytes: still the measured model
    export_candidate(run, None, tmp_path / "same")
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(UserError, match="changed since run"):
        export_candidate(run, None, tmp_path / "changed")
    assert not (tmp_path / "changed").exists()  # refused before the folder is made
    pytest.importorskip("fastapi")
    from edgepick.serve.model import load_served

    with pytest.raises(UserError, match="changed since run"):
        load_served(run, None)
