"""A probability map that is ~0 almost everywhere on synthetic inputs (a text detector's): the FP32 copies agree (their
differences are rounding noise below the absolute floor), no row is judged more strictly than a lower-precision row
of its runtime, and the run says the synthetic inputs make the check weak (issue 24, finding 1)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.helpers import save_float_graph

import edgepick
from edgepick.measure.verdicts import violations


@pytest.fixture
def detector_onnx(tmp_path):
    """Conv -> Sigmoid with a bias of -16: sigmoid(-16 + small) ~ 1e-7 wherever the input is not extreme."""
    pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal((1, 3, 3, 3)) * 0.1).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([-16.0], np.float32), "b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["logit"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["logit"], ["prob_map"])]
    return save_float_graph(tmp_path / "detector.onnx", nodes, {"x": [1, 3, "H", "W"]}, {"prob_map": [1, 1, "H", "W"]},
                            inits)


def test_fp32_copies_of_a_near_zero_map_agree_and_the_run_warns(home, detector_onnx, fast):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    run = edgepick.pick(str(detector_onnx), input_shape="1x3x32x48", runtimes=["onnxruntime", "openvino", "opencv-dnn"],
                        threads=[1], batches=[1], timing=fast)
    fp32 = [r for r in run.rows if r["precision"] == "fp32" and r["reason_class"] != "not-installed"]
    assert len(fp32) >= 2
    assert all(r["status"] == "ok" for r in fp32), [(r["key"], r["reason"]) for r in fp32]
    assert not violations(run.rows)
    assert "outputs near constant on synthetic inputs: pass --data for a meaningful check (output 0 within the floor" \
        in run.context["data"]
