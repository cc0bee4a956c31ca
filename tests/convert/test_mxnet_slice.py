"""MXNet's ONNX importer on Slice with open ends (runtimes/mxnet.py, repair_importer). Before: every Slice to the end of
an axis failed to import ("end expect int or None but value='nan'"), as exporters write it (INT64_MAX) at opsets
10-15; steps were ignored. After: open ends, negative starts and axes, and steps agree with ONNX Runtime. MXNet runs
in its own env, so the runtime is driven there in a subprocess; the reference is ONNX Runtime here."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from tests.mxnet_bridge import mxnet_and_onnxruntime  # noqa: E402
from tests.onnx_graphs import save_checked  # noqa: E402

OPEN = np.iinfo(np.int64).max


def _const(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def open_slices_model(path):
    """x [1,3,8,10] -> rows 1.. (open end) -> columns reversed in steps of 2 (open end backwards) -> channels 0..1 and
    columns 1.. on axis -1 -> Relu."""
    inits = [_const("s1", [1]), _const("e1", [OPEN]), _const("a1", [2]),
             _const("s2", [-1]), _const("e2", [-OPEN]), _const("a2", [3]), _const("st2", [-2]),
             _const("s3", [0, 1]), _const("e3", [2, OPEN]), _const("a3", [1, -1])]
    nodes = [helper.make_node("Slice", ["x", "s1", "e1", "a1"], ["a"]),
             helper.make_node("Slice", ["a", "s2", "e2", "a2", "st2"], ["b"]),
             helper.make_node("Slice", ["b", "s3", "e3", "a3"], ["c"]),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "open_slices", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 7, 4])], inits)
    save_checked(graph, path, ir_version=7)


def test_open_ended_slices_import_and_agree_with_onnxruntime(tmp_path):
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 10)).astype(np.float32)
    # "nan": the importer's own failure, as issue 24 saw it
    got, want = mxnet_and_onnxruntime(tmp_path, open_slices_model, x, "nan", repair=False)
    got, want = got[0], want[0]
    assert got.shape == want.shape == (1, 2, 7, 4)
    np.testing.assert_array_equal(got, want)  # slicing and Relu: the same numbers exactly
