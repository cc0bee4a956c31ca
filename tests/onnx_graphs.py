"""Small ONNX graphs the tests build: written to a file once checked."""

from __future__ import annotations


def save_checked(graph, path, *, ir_version: int, opset: int = 13):
    """The graph (default domain at `opset`) as a model that passes onnx.checker, saved at `path`."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir_version)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
