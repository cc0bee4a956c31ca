"""Every user mistake gives one clear line, exit code 2 and no traceback (unless --debug)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.helpers import cli, one_line_error


def test_missing_file(home):
    one_line_error(cli("run", "nope/model.onnx"), "no such file")


def test_empty_onnx(home):
    (home.parent / "empty.onnx").write_bytes(b"")
    one_line_error(cli("run", "empty.onnx"), "empty")


def test_truncated_onnx(home, tiny_onnx):
    data = tiny_onnx.read_bytes()
    (home.parent / "cut.onnx").write_bytes(data[: len(data) // 2])
    one_line_error(cli("run", "cut.onnx"), "not a valid ONNX model")


def test_text_file_named_onnx(home):
    (home.parent / "notes.onnx").write_text("this is not a model\n" * 10)
    one_line_error(cli("run", "notes.onnx"), "not a valid ONNX model")


def test_file_that_is_not_a_model(home):
    (home.parent / "table.csv").write_text("a,b\n1,2\n")
    one_line_error(cli("run", "table.csv"), "unrecognised model format")


@pytest.mark.parametrize("shape", ["1x-3x8", "1xx8", "abc", "input=", "=1x8"])
def test_bad_input_shape(home, tiny_onnx, shape):
    one_line_error(cli("run", str(tiny_onnx), "--input-shape", shape), "shape")


def test_input_shape_of_wrong_rank(home, tiny_onnx):
    one_line_error(cli("run", str(tiny_onnx), "--input-shape", "1x8x8"), "rank")


def test_unknown_runtime(home, tiny_onnx):
    one_line_error(cli("run", str(tiny_onnx), "--runtimes", "onnxruntime,tensorrtx"), "unknown runtime", "tensorrtx")


def test_data_shape_mismatch(home, tiny_onnx):
    np.savez(home.parent / "bad.npz", x=np.zeros((4, 3, 32, 32), np.float32), y=np.zeros(4, np.int64))
    one_line_error(cli("run", str(tiny_onnx), "--data", "bad.npz"), "3x32x32", "1x8x8")


def test_corrupt_data_file(home, tiny_onnx):
    (home.parent / "junk.npz").write_bytes(b"PK\x03\x04garbage")
    one_line_error(cli("run", str(tiny_onnx), "--data", "junk.npz"), "not a readable .npz")


def test_pickle_refused_without_trust(home):
    (home.parent / "model.pt").write_bytes(b"\x80\x04K\x01.")  # a real (harmless) pickle
    one_line_error(cli("run", "model.pt"), "--trust-pickle")


def test_bad_memory_limit_and_lists(home, tiny_onnx):
    one_line_error(cli("run", str(tiny_onnx), "--memory-limit", "512"), "memory-limit")
    one_line_error(cli("run", str(tiny_onnx), "--threads", "0"), "--threads")
    one_line_error(cli("run", str(tiny_onnx), "--batch", "1,x"), "--batch")


def test_show_unknown_run(home):
    one_line_error(cli("show", "doesnotexist"), "no run")


def test_debug_shows_the_traceback(home):
    proc = cli("--debug", "run", "nope.onnx")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "UserError" in proc.stderr


def test_dynamic_dims_need_a_shape(home, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("ids", TensorProto.FLOAT, ["batch", "seq"])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "seq"])
    graph = helper.make_graph([helper.make_node("Relu", ["ids"], ["out"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "dyn.onnx")
    one_line_error(cli("run", str(tmp_path / "dyn.onnx")), "--input-shape ids=")
