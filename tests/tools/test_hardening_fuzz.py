"""Regression tests for what fuzz/ found, and a short smoke run of the harness (the long runs are `make fuzz`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import cli, one_line_error

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


@pytest.mark.parametrize("height", ["8:", "3\bheight=8", "\0", "abc", "0", "-4"])
def test_darknet_cfg_with_a_bad_net_dimension_is_one_line(home, height):
    # fuzz/ darknet target: int() of a non-number in [net] raised ValueError (a traceback in the CLI)
    (home.parent / "net.cfg").write_text(f"[net]\nbatch=1\nchannels=3\nheight={height}\nwidth=8\n", errors="surrogatepass")
    (home.parent / "net.weights").write_bytes(b"\0" * 64)
    one_line_error(cli("run", "net.cfg"), "[net] section")


def test_fuzz_harness_smoke(tmp_path):
    pytest.importorskip("hypothesis", reason="the fuzz harness needs edgepick[fuzz] (hypothesis)")
    import json

    out = tmp_path / "summary.json"
    targets = ("input-shape", "budget", "device-yaml", "npz-arrays")
    proc = subprocess.run([sys.executable, str(FUZZ / "run.py"), "--seconds", "2", "--jobs", "2", "--out", str(out),
                           *targets], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(out.read_text())
    assert [t["target"] for t in summary["targets"]] == list(targets) and summary["jobs"] == 2
    for t in summary["targets"]:  # each target ran in its own process and tried at least one Hypothesis batch
        assert t["ended"] == "ok" and t["examples"] >= 100 and t["findings"] == 0 and t["seconds"] >= 2, t


def test_a_fuzzing_process_that_dies_is_a_finding_with_its_input(tmp_path, monkeypatch):
    """A parser that segfaults kills the target's process: the driver keeps the input it died on."""
    sys.path.insert(0, str(FUZZ))
    import run as fuzz_run

    monkeypatch.setattr(fuzz_run, "FINDINGS", tmp_path)
    (tmp_path / "onnx.current").write_bytes(b"the input that crashed it")
    proc = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    proc.wait(timeout=60)
    summary = fuzz_run._child_summary("onnx", proc, tmp_path / "none.json", 0.0)
    assert summary["findings"] == 1 and summary["ended"] == "killed by SIGSEGV"
    assert Path(summary["crash_input"]).read_bytes() == b"the input that crashed it"


def _npz_with_central_patch(offset: int, value: int, width: int = 2, compressed: bool = False) -> bytes:
    """A valid .npz whose central-directory entries have one field overwritten (what the fuzzer's mutations hit)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, x=np.zeros((4, 4), np.float32))
    data = bytearray(buf.getvalue())
    start = 0
    while (at := data.find(b"PK\x01\x02", start)) >= 0:
        data[at + offset:at + offset + width] = value.to_bytes(width, "little")
        start = at + 4
    return bytes(data)


@pytest.mark.parametrize("case,patch", [
    ("encrypted", dict(offset=8, value=1)),  # RuntimeError: File 'x.npy' is encrypted
    ("unknown-compression", dict(offset=10, value=99)),  # NotImplementedError: compression method not supported
    ("zip-version-12.7", dict(offset=6, value=127)),  # NotImplementedError: zip file version 12.7
])
def test_damaged_npz_archives_are_one_line(home, case, patch):
    # fuzz/ npz-bytes target: np.load raised these past the (BadZipFile, ValueError, OSError) the reader caught
    from edgepick.core.errors import UserError
    from edgepick.inputs.data import read_data_arg
    from edgepick.inputs.signature import Signature, TensorSpec

    path = home.parent / f"{case}.npz"
    path.write_bytes(_npz_with_central_patch(**patch))
    sig = Signature([TensorSpec("input", [None, 4], "float32", True)])
    with pytest.raises(UserError, match="not a readable .npz"):
        read_data_arg(str(path), sig, 512)


def test_damaged_npz_through_the_cli_is_one_line(home, tiny_onnx):
    (home.parent / "enc.npz").write_bytes(_npz_with_central_patch(offset=8, value=1))
    one_line_error(cli("run", str(tiny_onnx), "--runtimes", "onnxruntime", "--data", "enc.npz"), "not a readable .npz")


def _saved_program() -> bytes:
    import io

    import torch

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.export.save(torch.export.export(torch.nn.Linear(4, 3).eval(), (torch.randn(1, 4),)), buf)
    return buf.getvalue()


def test_pt2_whose_zip64_locator_names_several_disks_is_one_line(home):
    # fuzz/ pt2 target (60 s run): zipfile.is_zipfile itself raised BadZipFile ("span multiple disks")
    data = bytearray(_saved_program())
    at = data.rfind(b"PK\x06\x07")  # the ZIP64 end-of-central-directory locator; +16: total number of disks
    assert at > 0
    data[at + 16:at + 20] = (3).to_bytes(4, "little")
    (home.parent / "disks.pt2").write_bytes(bytes(data))
    one_line_error(cli("run", "disks.pt2"), "not a torch.export program")
    np_path = home.parent / "disks.npz"  # the same damage in a --data archive
    np_path.write_bytes(bytes(data))
    from edgepick.core.errors import UserError
    from edgepick.inputs.data import read_data_arg
    from edgepick.inputs.signature import Signature, TensorSpec

    with pytest.raises(UserError, match="not a readable .npz"):
        read_data_arg(str(np_path), Signature([TensorSpec("input", [None, 4], "float32", True)]), 8)


def test_pt2_whose_call_graph_lost_its_signature_is_one_line(home):
    # fuzz/ pt2 target (60 s run): the program loaded, then program.module() raised AttributeError ('in_spec')
    data = _saved_program()
    assert data.count(b'"fqn": "", "signature"') == 1
    (home.parent / "nosig.pt2").write_bytes(data.replace(b'"fqn": "", "signature"', b'"fqn": "", "rignature"'))
    one_line_error(cli("run", "nosig.pt2"), "not a loadable torch.export program")
