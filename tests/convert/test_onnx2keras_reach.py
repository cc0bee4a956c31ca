"""GlobalMaxPool, Equal and Reciprocal for onnx2keras (convert/onnx2keras_ops.py): ops onnx2keras 0.0.25 has no
converter for. Built from Keras' own layers and keras.ops, so the .keras file loads on JAX in safe mode; every output
agrees with ONNX Runtime."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def gate_model(path):
    """x [N,2,6,6] -> Conv -> GlobalMaxPool -> Reciprocal (r), and the masks Equal(Relu(c), 0) and Equal(c, Relu(c))
    (a tensor against a constant, and two tensors)."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(1, np.float32), "zero")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("GlobalMaxPool", ["c"], ["g"]),
             helper.make_node("Reciprocal", ["g"], ["r"]),
             helper.make_node("Relu", ["c"], ["relu"]),
             helper.make_node("Equal", ["relu", "zero"], ["off"]),
             helper.make_node("Equal", ["c", "relu"], ["on"])]
    outputs = [helper.make_tensor_value_info("r", TensorProto.FLOAT, ["N", 4, 1, 1]),
               helper.make_tensor_value_info("off", TensorProto.BOOL, ["N", 4, 6, 6]),
               helper.make_tensor_value_info("on", TensorProto.BOOL, ["N", 4, 6, 6])]
    graph = helper.make_graph(nodes, "gate", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 6, 6])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return Signature([TensorSpec("x", [1, 2, 6, 6], "float32", batch_dynamic=True)])


def _keras_on_jax(path: str, *xs: np.ndarray) -> list[np.ndarray]:
    """Every output of the .keras file fed xs (in input order), loaded in a fresh process on JAX in safe mode."""
    code = ("import sys, numpy as np, keras; m = keras.saving.load_model(sys.argv[1], compile=False, safe_mode=True); "
            "assert keras.backend.backend() == 'jax'; f = np.load(sys.argv[2]); "
            "xs = [f[k] for k in sorted(f.files, key=lambda k: int(k.split('_')[1]))]; "
            "out = m(xs if len(xs) > 1 else xs[0]); out = out if isinstance(out, (list, tuple)) else [out]; "
            "np.savez(sys.argv[3], *[np.asarray(o) for o in out])")
    np.savez(path + ".x.npz", *xs)
    done = subprocess.run([sys.executable, "-c", code, path, path + ".x.npz", path + ".y.npz"], capture_output=True,
                          text=True, env=dict(os.environ, KERAS_BACKEND="jax"), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    saved = np.load(path + ".y.npz")
    return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _ready():
    from edgepick.core import envs

    if not envs.is_ready("onnx2tf"):
        pytest.skip("the onnx2tf env is absent: edgepick env create onnx2tf")
    pytest.importorskip("jax")
    pytest.importorskip("keras")
    return pytest.importorskip("onnxruntime")


@pytest.mark.slow
def test_global_max_pool_equal_and_reciprocal_reach_keras_on_jax(tmp_path):
    """Before: "onnx2keras has no converter for ONNX op(s) Equal, GlobalMaxPool, Reciprocal"."""
    ort = _ready()
    from edgepick.convert.chain import convert_along

    signature = gate_model(tmp_path / "gate.onnx")
    final, _ = convert_along(["onnx2keras"], Artifact("onnx", str(tmp_path / "gate.onnx")), signature, tmp_path / "cache")
    x = np.random.default_rng(1).standard_normal((3, 2, 6, 6)).astype(np.float32)
    want = ort.InferenceSession(str(tmp_path / "gate.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    got = _keras_on_jax(final.path, x)
    assert [g.shape for g in got] == [w.shape for w in want]
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-6)
    assert want[1].any() and not want[1].all() and want[2].any()  # both masks are mixed, so the check means something
    for g, w in zip(got[1:], want[1:]):
        assert g.dtype == np.bool_ and np.array_equal(g, w)


@pytest.mark.slow
@pytest.mark.parametrize("op, options", [("LSTM", {"direction": "bidirectional", "states": True}),
                                         ("LSTM", {"direction": "reverse"}),
                                         ("GRU", {"direction": "bidirectional", "states": True, "linear_before_reset": 1}),
                                         ("GRU", {})],
                         ids=["lstm_bidirectional_initial_states", "lstm_reverse", "gru_bidirectional_lbr", "gru"])
def test_recurrent_ops_reach_keras_on_jax(tmp_path, op, options):
    """Before: "onnx2keras has no converter for ONNX op(s) LSTM" (GRU alike; and its Transpose refused to move the
    batch axis, which a [steps, batch, features] layout needs). After: Keras' LSTM / GRU layers, the same outputs as
    ONNX Runtime (Y through a Transpose, the states straight from the op)."""
    ort = _ready()
    from recurrent_graphs import _feeds, _recurrent_graph

    from edgepick.convert.chain import convert_along

    model = _recurrent_graph(op, **options)
    onnx.save(model, str(tmp_path / "lstm.onnx"))
    feeds = _feeds(model)
    names = [i.name for i in model.graph.input]
    signature = Signature([TensorSpec(n, list(feeds[n].shape), "float32") for n in names])
    final, _ = convert_along(["onnx2keras"], Artifact("onnx", str(tmp_path / "lstm.onnx")), signature, tmp_path / "cache")
    want = ort.InferenceSession(str(tmp_path / "lstm.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = _keras_on_jax(final.path, *[feeds[n] for n in names])
    assert [g.shape for g in got] == [w.shape for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
