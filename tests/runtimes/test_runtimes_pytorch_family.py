"""torch.compile, TorchScript and ExecuTorch: each converter checked for equivalence on a tiny model, and
torch.compile's compile time reported apart from inference by the real worker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgepick.convert.base import ConvertContext  # noqa: E402
from edgepick.core.artifact import Artifact  # noqa: E402
from edgepick.inputs.signature import Signature, TensorSpec  # noqa: E402


def tiny_module():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.Linear(4 * 8 * 8, 10)).eval()


SIG = Signature([TensorSpec("input", [1, 1, 8, 8], "float32", batch_dynamic=True)])


def _run(runtime_cls, artifact, x, threads=1):
    session = runtime_cls().load(artifact, threads)
    prepared = session.prepare({"input": x})
    if hasattr(session, "compile"):
        session.compile(prepared)
    return session.to_numpy(session.run(prepared))[0]


def _expected(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def test_torchscript_converter_is_equivalent(tmp_path):
    from edgepick.convert.torch_to_torchscript import TorchToTorchScript
    from edgepick.runtimes.torchscript import TorchScript

    module = tiny_module()
    art = TorchToTorchScript().convert(Artifact("torch-factory", "unused:unused"), ConvertContext(SIG, tmp_path, module))
    assert art.format == "torchscript"
    x = np.random.default_rng(1).standard_normal((3, 1, 8, 8)).astype(np.float32)  # a batch the trace never saw
    np.testing.assert_allclose(_run(TorchScript, art, x), _expected(module, x), rtol=1e-5, atol=1e-5)


class _Branchy(torch.nn.Module):
    """Python control flow: tracing records only the branch the example input took."""

    def forward(self, x):
        return x * 2 if x.mean() > 100 else -x


def test_a_trace_that_broke_outputs_is_blamed_on_its_step(tmp_path):
    import json

    from edgepick.convert.stepcheck import blame, check_steps
    from edgepick.convert.torch_to_torchscript import TorchToTorchScript
    from edgepick.measure.equivalence import Tolerance

    step_dir = tmp_path / "cache" / "torch-to-torchscript"
    step_dir.mkdir(parents=True)
    art = TorchToTorchScript().convert(Artifact("torch-factory", "x:y"), ConvertContext(SIG, step_dir, _Branchy()))
    (step_dir / "artifact.json").write_text(json.dumps({"artifact": art.to_dict(), "seconds": 0.1}))
    x = np.full((4, 1, 8, 8), 1000.0, np.float32)  # takes the branch the trace never saw
    reference = [_expected(_Branchy(), x)]
    steps = [{"converter": "torch-to-torchscript", "seconds": 0.1, "cached": False},
             {"converter": "pnnx", "seconds": 0.1, "cached": False}]
    check_steps(["torch-to-torchscript", "pnnx"], steps, tmp_path / "cache", {"input": x}, reference, Tolerance())
    assert steps[0]["equivalence"]["checked"] and not steps[0]["equivalence"]["agrees"]
    assert "already wrong after step torch-to-torchscript" in blame(steps)
    ok = [_expected(_Branchy(), -x)]  # on inputs like the example, the same trace is right
    steps[0].pop("equivalence")
    check_steps(["torch-to-torchscript", "pnnx"], steps, tmp_path / "cache", {"input": -x}, ok, Tolerance())
    assert steps[0]["equivalence"]["agrees"] and "broken by pnnx or the runtime" in blame(steps)


@pytest.mark.slow
def test_torch_compile_reports_compile_time_apart(tmp_path, fast):
    """The real worker: compile_s is its own phase, so first inference and steady state exclude compilation."""
    from edgepick.launch.subprocess import run_worker

    x = np.random.default_rng(0).standard_normal((4, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", **{"in:input": x})
    factory = Artifact("torch-factory", "tests.runtimes.test_runtimes_pytorch_family:tiny_module",
                       {"input_names": ["input"], "sys_path": str(Path(__file__).parents[2])})
    job = {"runtime": "torch-compile", "artifact": factory.to_dict(),
           "threads": 1, "batch": 1, "cores": None, "inputs": str(tmp_path / "inputs.npz"), "timing": fast.to_dict()}
    result = run_worker(job, tmp_path / "w", timeout_s=600)
    assert result["status"] == "ok", result.get("reason")
    assert result["compile_s"] > 0.2  # inductor generated and built C++: far longer than one call
    assert result["first_inference_ms"] / 1e3 < result["compile_s"] / 5
    with np.load(tmp_path / "w" / "outputs.npz") as f:
        np.testing.assert_allclose(f["arr_0"], _expected(tiny_module(), x), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_executorch_converter_is_equivalent(tmp_path):
    pytest.importorskip("executorch")
    from edgepick.convert.torch_to_executorch import TorchToExecuTorch
    from edgepick.runtimes.executorch import ExecuTorch

    module = tiny_module()
    art = TorchToExecuTorch().convert(Artifact("torch-factory", "x:y"), ConvertContext(SIG, tmp_path, module))
    assert art.format == "executorch-pte" and art.meta["xnnpack_delegate_calls"] >= 1
    x = np.random.default_rng(2).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(ExecuTorch, art, x), _expected(module, x), rtol=1e-4, atol=1e-4)


def test_the_executorch_runtime_imports_without_the_export_stack():
    """runtimes/executorch.py loads the C++ bindings as portable_lib does, less portable_lib's import of
    executorch.exir (about 5 s of a 6 s import): a measurement worker pays only for what runs the .pte."""
    pytest.importorskip("executorch")
    code = ("import sys; from edgepick.runtimes.executorch import ExecuTorch; ExecuTorch().import_framework(); "
            "print(sorted(m for m in sys.modules if m.startswith('executorch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    loaded = out.stdout.strip()
    assert out.returncode == 0 and "executorch.extension.pybindings._C" in loaded, out.stderr[-2000:]
    assert "executorch.exir" not in loaded
