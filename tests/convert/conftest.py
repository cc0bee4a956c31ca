"""Fixtures the converter tests share."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def planted(tmp_path):
    """Conv -> Relu -> Reshape to [N, -1], N = Cast(Cast(Shape(r)[0:1], float), int64): a dynamic shape subgraph."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(0).standard_normal((4, 1, 3, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"), numpy_helper.from_array(np.array([1], np.int64), "one")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Shape", ["r"], ["s"]), helper.make_node("Slice", ["s", "zero", "one"], ["n"]),
             helper.make_node("Cast", ["n"], ["n_float"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["n_float"], ["n_int"], to=TensorProto.INT64),
             helper.make_node("Concat", ["n_int", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["r", "target"], ["y"])]
    graph = helper.make_graph(nodes, "planted", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 256])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "planted.onnx"
    onnx.save(model, str(path))
    return path


@pytest.fixture
def raw_frontend(monkeypatch):
    """TVM's ONNX frontend as it is: without edgepick's own fold of shape-computed Reshape targets
    (convert/shape_fold.py), which now spares TVM the planted graph, so the onnxslim retry is what is tested."""
    from edgepick.convert import shape_fold

    monkeypatch.setattr(shape_fold, "fold_reshape_targets", lambda model, signature: 0)
