"""onnx2tf offline (convert/onnx2tf_offline.py): its sample data from the eval inputs, and no connection out of its
process. Before, a model with a 3-channel image input made onnx2tf download calibration_image_sample_data_20x128x128x3
from GitHub and fail without a network ("ConnectionError"), so TensorFlow and LiteRT got no row."""

from __future__ import annotations

import socket
import subprocess
import sys

import numpy as np
import pytest

from edgepick.convert import onnx2tf_offline
from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec

_BLOCKED_LOOKUP = ("from edgepick.convert.onnx2tf_offline import block_network; block_network(); import socket; "
                   "socket.create_connection(('github.com', 443), timeout=5)")


def test_write_inputs_gives_every_input_and_the_image_file(tmp_path):
    samples = {"image": np.random.default_rng(0).standard_normal((2, 3, 40, 30)).astype(np.float32),
               "ids": np.arange(8, dtype=np.int64).reshape(1, 8)}
    flags, record = onnx2tf_offline.write_inputs(samples, tmp_path)
    assert flags[0::3] == ["-cind", "-cind"] and flags[1::3] == ["image", "ids"]
    assert np.load(flags[2]).shape == (1, 3, 40, 30) and np.array_equal(np.load(flags[5]), samples["ids"])
    images = np.load(tmp_path / onnx2tf_offline.IMAGE_FILE)
    assert images.shape == (20, 128, 128, 3) and images.dtype == np.float32
    assert images[0, 0, 0].tolist() == samples["image"][0, :, 0, 0].tolist()  # channels-last, same values
    assert record == {"custom_input_data": ["ids", "image"], "image_file": True}
    _, record = onnx2tf_offline.write_inputs({"seq": np.zeros((1, 4, 8), np.float32)}, tmp_path / "seq")
    assert not record["image_file"]


def test_the_guard_refuses_the_network_and_allows_this_machine():
    done = subprocess.run([sys.executable, "-c", _BLOCKED_LOOKUP], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "edgepick runs onnx2tf offline: it tried to reach github.com" in done.stderr
    with socket.socket() as server:  # a local service (a loopback server) stays reachable
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        code = ("from edgepick.convert.onnx2tf_offline import block_network; block_network(); import socket; "
                f"socket.create_connection(('127.0.0.1', {port}), timeout=5).close()")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]


def _onnx2tf_env():
    from edgepick.core import envs

    if not envs.is_ready("onnx2tf"):
        pytest.skip("the onnx2tf env is absent: edgepick env create onnx2tf")
    return envs.interpreter_for("onnx2tf")


@pytest.mark.slow
def test_onnx2tf_own_download_is_refused_and_its_file_is_ours(tmp_path):
    """onnx2tf's downloader under the guard: refused in an empty folder; reads edgepick's file where it is."""
    python, overrides = _onnx2tf_env()
    code = ("from edgepick.convert.onnx2tf_offline import block_network; block_network(); "
            "from onnx2tf.utils.common_functions import download_test_image_data as d; print(d().shape, float(d().sum()))")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **overrides}
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300, env=env, cwd=empty)
    assert done.returncode != 0 and "edgepick runs onnx2tf offline" in done.stderr
    samples = {"x": np.ones((1, 3, 16, 16), np.float32)}
    onnx2tf_offline.write_inputs(samples, tmp_path / "ours")
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path / "ours")
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.split()[-1] == str(float(20 * 128 * 128 * 3))


def image_model(path):
    """x [1, 24, 32, 3] (an RGB image, channels-last as tf2onnx leaves a TFLite model's input) -> Transpose -> Conv ->
    Relu -> GlobalAveragePool -> Flatten -> MatMul: a landmark-style head. onnx2tf keeps this input as it is (-k), so
    its TensorFlow input ends in 3 channels: the case where it fetched its sample images."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal((8, 10)).astype(np.float32), "fc")]
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["xt", "w"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]), helper.make_node("MatMul", ["f", "fc"], ["y"])]
    graph = helper.make_graph(nodes, "landmarks", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 24, 32, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.save(model, str(path))
    return Signature([TensorSpec("x", [1, 24, 32, 3], "float32")])


@pytest.mark.slow
def test_onnx2tf_converts_an_rgb_model_with_the_network_refused(tmp_path, monkeypatch):
    """The whole .tflite edge with onnx2tf's process refusing every connection, and this test's process too (the
    socket connect of both raises): the conversion needs no network, and the .tflite agrees with ONNX Runtime."""
    _onnx2tf_env()
    ort = pytest.importorskip("onnxruntime")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    from edgepick.convert.chain import convert_along

    monkeypatch.chdir(tmp_path)  # no stray sample file from an earlier run can help
    signature = image_model(tmp_path / "m.onnx")

    def refuse(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not str(address[0]).startswith("127."):
            raise ConnectionRefusedError(f"test: no network ({address})")
        return real_connect(sock, address)

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)
    final, _ = convert_along(["onnx2tf"], Artifact("onnx", str(tmp_path / "m.onnx")), signature, tmp_path / "cache")
    assert final.meta["onnx2tf_input"]["offline"] == {"custom_input_data": ["x"], "image_file": True}
    x = np.random.default_rng(1).standard_normal((1, 24, 32, 3)).astype(np.float32)
    interpreter = litert.Interpreter(model_path=final.path)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    want = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
