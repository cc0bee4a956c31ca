"""PRelu with a [1, C, 1, 1] slope (tf2onnx's form of a TFLite PReLU) through onnx2torch (convert/onnx2torch_prelu.py).

onnx2torch computed it with boolean-mask indexing, which torch.export keeps as index + index_put and ExecuTorch runs
on portable kernels for seconds per activation (face-landmark, palm-detection-lite: "no result within 240 s").
As torch.where, the exported program has neither op, gives ONNX Runtime's very numbers (NaN and zeros included), and
ExecuTorch runs it.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

if importlib.util.find_spec("onnx2torch") is None:  # importorskip would import it, and it imports torchvision
    pytest.skip("onnx2torch is not installed: pip install --no-deps onnx2torch==1.5.15", allow_module_level=True)
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgepick.convert.base import ConvertContext  # noqa: E402
from edgepick.convert.onnx_to_torch import OnnxToTorch  # noqa: E402
from edgepick.core.artifact import Artifact  # noqa: E402
from edgepick.inputs.signature import Signature, TensorSpec  # noqa: E402

SIG = Signature([TensorSpec("x", [1, 4, 6, 6])])


def prelu_model(path):
    """x [1,4,6,6] -> PRelu with slope [1,4,1,1] (one negative, one zero) -> y: nothing else, so bit for bit."""
    inits = [numpy_helper.from_array(np.array([0.25, -0.5, 0.0, 1.5], np.float32).reshape(1, 4, 1, 1), "slope")]
    nodes = [helper.make_node("PRelu", ["x", "slope"], ["y"])]
    graph = helper.make_graph(nodes, "prelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _input():
    x = np.random.default_rng(1).standard_normal((1, 4, 6, 6)).astype(np.float32)
    x[0, :, 0, 0] = [np.nan, 0.0, -0.0, np.inf]  # the edge cases the two formulations could differ on
    return x


def _converted(tmp_path):
    source = prelu_model(tmp_path / "prelu.onnx")
    out = tmp_path / "torch"
    out.mkdir()
    return source, OnnxToTorch().convert(Artifact("onnx", str(source), {}), ConvertContext(SIG, out))


def test_prelu_exports_without_mask_indexing_and_matches_onnxruntime(tmp_path):
    source, artifact = _converted(tmp_path)
    assert artifact.meta["graph_repairs"]["prelus"] == 1
    program = torch.export.load(artifact.path)
    targets = {str(n.target) for n in program.graph.nodes if n.op == "call_function"}
    assert not any("index" in t for t in targets), targets
    x = _input()
    want = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        got = program.module()(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_prelu_runs_on_executorch_like_onnxruntime(tmp_path):
    pytest.importorskip("executorch")
    from edgepick.convert.torch_to_executorch import TorchToExecuTorch
    from edgepick.runtimes.executorch import ExecuTorch

    source, artifact = _converted(tmp_path)
    out = tmp_path / "et"
    out.mkdir()
    pte = TorchToExecuTorch().convert(artifact, ConvertContext(SIG, out))
    x = np.nan_to_num(_input(), nan=0.5, posinf=2.0)  # XNNPACK's own kernels: finite inputs
    session = ExecuTorch().load(pte, 1)
    got = session.to_numpy(session.run(session.prepare({"x": x})))[0]
    want = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
