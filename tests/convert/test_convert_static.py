"""Shape subgraphs folded before converters and runtimes that need static graphs: the onnxslim retry, and the root
error in the reason. The planted graph computes a Reshape target from the input's shape through Cast ops, as
exporters emit; TVM's ONNX frontend refuses it ("Reshape requires the input new shape to be Shape") and OpenCV DNN
cannot import it, while onnxslim folds it to a constant target."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.convert import static
from edgepick.convert.chain import convert_along
from edgepick.convert.stepcheck import check_steps
from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.inputs.signature import Signature, TensorSpec
from edgepick.measure.equivalence import Tolerance

SIG = Signature([TensorSpec("x", [1, 1, 8, 8], "float32", batch_dynamic=True)])


def _needs_tvm():
    from edgepick.core.registry import CONVERTERS, RUNTIMES

    if not CONVERTERS.get("onnx-to-tvm").is_available() or RUNTIMES.get("tvm").unavailable_reason():
        pytest.skip("TVM is not usable here: pip install 'edgepick[tvm]'")
    pytest.importorskip("onnxslim")


def test_root_cause_skips_lines_printed_after_the_traceback():
    stderr = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n"
              "TypeError: Reshape requires the input new shape to be Shape\n"
              "[19:55:55] block_builder.cc:67: Warning: BlockBuilder destroyed with remaining blocks!\n"
              "Error converting operator Reshape, with inputs: [R.nn.relu(x)]\n")
    assert errors.root_cause(stderr) == "TypeError: Reshape requires the input new shape to be Shape"
    assert errors.root_cause("just a log line\n") is None


def test_tvm_reports_the_root_error_not_the_exit_warning(planted, tmp_path, raw_frontend):
    _needs_tvm()
    from edgepick.convert.base import ConvertContext
    from edgepick.convert.onnx_to_tvm import OnnxToTvm

    with pytest.raises(RuntimeError) as failure:
        OnnxToTvm().convert(Artifact("onnx", str(planted)), ConvertContext(SIG, tmp_path))
    assert str(failure.value).startswith("TypeError: Reshape requires the input new shape to be Shape")
    assert "BlockBuilder" not in str(failure.value)


def test_tvm_retries_once_on_the_simplified_graph(planted, tmp_path, raw_frontend):
    _needs_tvm()
    cache = tmp_path / "cache"
    final, steps = convert_along(["onnx-to-tvm"], Artifact("onnx", str(planted)), SIG, cache)
    assert final.format == "tvm-relax"
    assert [s["converter"] for s in steps] == [static.STEP, "onnx-to-tvm"]
    slim = steps[0]
    assert "TypeError: Reshape requires the input new shape to be Shape" in slim["after_error"]
    assert slim["simplified"]["input_shapes"] == {"x": ["batch", 1, 8, 8]}
    assert slim["simplified"]["nodes_after"] < slim["simplified"]["nodes_before"]
    # the simplified graph is an intermediate step: checked against the reference like any other
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8)).astype(np.float32)
    ort = pytest.importorskip("onnxruntime")
    want = ort.InferenceSession(str(planted), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    check_steps(["onnx-to-tvm"], steps, cache, {"x": x}, [want], Tolerance())
    assert steps[0]["equivalence"]["checked"] and steps[0]["equivalence"]["agrees"]
    # a second sweep reads both steps from the cache, the retry still on record
    _, again = convert_along(["onnx-to-tvm"], Artifact("onnx", str(planted)), SIG, cache)
    assert [s["converter"] for s in again] == [static.STEP, "onnx-to-tvm"] and all(s["cached"] for s in again)


def test_a_retry_that_fails_too_keeps_the_root_error(tmp_path):
    pytest.importorskip("onnxslim")
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    # an op no converter can take, before or after simplification: the first error must be the one reported
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("NoSuchOp", ["r"], ["y"], domain="acme")],
                              "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("acme", 1)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "custom.onnx"))
    pytest.importorskip("openvino")
    with pytest.raises(errors.CandidateFailure) as failure:
        convert_along(["onnx-to-openvino"], Artifact("onnx", str(tmp_path / "custom.onnx")), SIG, tmp_path / "cache")
    message = failure.value.message
    first, _, retry = message.partition(f"(again on the {static.STEP}-simplified graph: ")
    assert first.startswith("onnx-to-openvino failed: ") and "NoSuchOp" in first  # the root error comes first
    assert retry  # and the retry happened and is said


@pytest.mark.slow
def test_the_tvm_row_measures_the_simplified_graph(planted, home, fast):
    """End to end: the sweep's TVM row agrees, its conversion steps show the retry and the root error it followed."""
    _needs_tvm()
    import edgepick

    run = edgepick.pick(str(planted), runtimes=["tvm"], threads=[1], batches=[1], timing=fast)
    row = run.rows[0]
    assert row["status"] == "ok", row["reason"]
    assert [s["converter"] for s in row["conversion"]] == [static.STEP, "onnx-to-tvm"]
    assert "onnx-to-tvm failed: TypeError: Reshape requires" in row["conversion"][0]["after_error"]


@pytest.mark.slow
def test_a_runtime_that_loads_onnx_directly_is_measured_again_on_the_simplified_graph(planted, home, fast):
    """MXNet reads ONNX itself (no conversion step) and its importer needs Conv's optional kernel_shape, which the
    planted graph leaves out: the worker fails, and the retry on the simplified graph (kernel_shape written in) agrees."""
    from edgepick.core import envs

    if not envs.is_ready("mxnet"):
        pytest.skip("the mxnet env is absent: edgepick env create mxnet")
    pytest.importorskip("onnxslim")
    import edgepick

    run = edgepick.pick(str(planted), runtimes=["mxnet"], threads=[1], batches=[1], timing=fast)
    row = run.rows[0]
    assert row["status"] == "ok", row["reason"]
    assert [s["converter"] for s in row["conversion"]] == [static.STEP]
    assert "KeyError: 'kernel'" in row["conversion"][0]["after_error"]
    assert row["conversion"][0]["simplified"]["kernel_shapes_filled"] == 1
