"""TorchScript archives as model inputs (issue 10, item 7): told apart from pickles by the zip's entries, loaded only
with --trust-pickle (torch.jit.load runs code from the archive), measured directly by the torchscript runtime."""

from __future__ import annotations

import zipfile

import pytest
import torch
from tests.helpers import FAST_ARGS, cli

import edgepick
from edgepick.core.errors import UserError
from edgepick.inputs.model import load_model
from edgepick.inputs.torchscript import is_torchscript_archive


def _cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 8 * 8, 10)).eval()


class _Gated(torch.nn.Module):
    """Three inputs of three ranks, one of them a 0-d int64 (a scalar switch), scripted rather than traced."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.gru = torch.nn.GRU(8, 16, batch_first=True)

    def forward(self, x, state, sr):
        y, h = self.gru(torch.where(sr == 16000, x, x * 2.0), state)
        return y[:, -1], h


def test_the_zip_entries_tell_torchscript_from_a_pickle(tmp_path):
    torch.jit.save(torch.jit.trace(_cnn(), torch.randn(1, 1, 8, 8)), tmp_path / "traced.pt")
    torch.jit.save(torch.jit.freeze(torch.jit.script(_cnn())), tmp_path / "frozen.jit")
    torch.save(_cnn(), tmp_path / "pickled.pt")
    assert is_torchscript_archive(tmp_path / "traced.pt") and is_torchscript_archive(tmp_path / "frozen.jit")
    assert not is_torchscript_archive(tmp_path / "pickled.pt")
    with pytest.raises(UserError, match="TorchScript archive: torch.jit.load runs TorchScript code"):
        load_model(str(tmp_path / "traced.pt"))  # a .pt, but not a pickle: the TorchScript message, not the pickle one
    with pytest.raises(UserError, match="is a pickle"):
        load_model(str(tmp_path / "pickled.pt"))


def test_traced_archive_is_measured_directly(home, fast):
    path = home.parent / "cnn.pt"
    torch.jit.save(torch.jit.trace(_cnn(), torch.randn(1, 1, 8, 8)), path)
    run = edgepick.pick(str(path), trust_pickle=True, input_shape="1x1x8x8", runtimes=["torchscript"], batches=[1, 4],
                        timing=fast)
    fp32 = [r for r in run.rows if r["precision"] == "fp32"]
    assert [r["status"] for r in fp32] == ["ok", "ok"], [r["reason"] for r in fp32]
    assert run.request["input_format"] == "torchscript" and fp32[0]["conversion"] == []
    assert "TorchScript ScriptModule" in run.context["reference"]
    assert fp32[0]["equivalence"]["max_abs_err"] < 1e-5


def test_scripted_archive_with_a_scalar_input_from_the_cli(home):
    torch.jit.save(torch.jit.script(_Gated().eval()), home.parent / "gated.jit")
    with pytest.raises(UserError, match="--trust-pickle"):
        edgepick.pick("gated.jit")
    with pytest.raises(UserError, match="x=SHAPE,state=SHAPE,sr=SHAPE"):
        edgepick.pick("gated.jit", trust_pickle=True)
    proc = cli("run", "gated.jit", "--trust-pickle", "--input-shape", "sr=scalar:int64,x=1x10x8,state=1x1x16",
               "--input-value", "sr=16000", "--runtimes", "torchscript", "--batch", "1,2", "--json", *FAST_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert '"status": "ok"' in proc.stdout and "no batch dimension" in proc.stdout


def test_broken_archives_are_one_line(home):
    (home.parent / "empty.jit").write_bytes(b"")
    (home.parent / "noise.jit").write_bytes(b"\x00\x01 not a zip at all" * 16)
    with zipfile.ZipFile(home.parent / "hollow.ts", "w") as z:  # looks like an archive, holds nothing loadable
        z.writestr("hollow/code/__torch__.py", "this is not TorchScript")
        z.writestr("hollow/constants.pkl", b"\x80\x02garbage")
    for name, message in (("empty.jit", "empty (0 bytes)"), ("noise.jit", "not a TorchScript archive"),
                          ("hollow.ts", "torch.jit.load cannot read")):
        proc = cli("run", name, "--trust-pickle")
        assert proc.returncode == 2, (name, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, (name, proc.stderr)


def test_a_non_tensor_argument_is_explained(tmp_path):
    class Scaled(torch.nn.Module):
        def forward(self, x, times: int):
            return x * times

    torch.jit.save(torch.jit.script(Scaled()), tmp_path / "scaled.jit")
    with pytest.raises(UserError, match="non-tensor arguments \\(times: int\\)"):
        load_model(str(tmp_path / "scaled.jit"), trust_pickle=True)
