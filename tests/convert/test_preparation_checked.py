"""A preparation step is checked before anything is built on it, and named first (issue 24, finding 3); a runtime's
static-shape compile is checked like a conversion and falls back to the dynamic graph (finding 2)."""

from __future__ import annotations

import numpy as np
import pytest
from tests.convert.test_convert_static import SIG, _needs_tvm
from tests.helpers import save_float_graph

import edgepick
from edgepick.convert import static
from edgepick.convert.chain import convert_along
from edgepick.convert.stepcheck import check_artifact
from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.measure.equivalence import Tolerance


def _flipped_simplify(real):
    """The real onnxslim step, with one planted fault in what it writes: the conv weights' sign."""
    def simplify(artifact, signature, out_dir):
        import onnx
        from onnx import numpy_helper

        simple, record = real(artifact, signature, out_dir)
        model = onnx.load(simple.path)
        for i, init in enumerate(model.graph.initializer):
            if init.name == "w":
                model.graph.initializer[i].CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(init), "w"))
        onnx.save(model, simple.path)
        return simple, record
    return simplify


def test_a_preparation_step_that_changes_the_model_stops_the_build_and_is_named_first(planted, tmp_path,
                                                                                       monkeypatch, raw_frontend):
    _needs_tvm()
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(str(planted), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    checked = []

    def check(artifact):
        checked.append(artifact.path)
        return check_artifact(artifact, {"x": x}, [want], Tolerance())

    monkeypatch.setattr(static, "simplify", _flipped_simplify(static.simplify))
    cache = tmp_path / "cache"
    for _ in range(2):  # the second time from the cache: the step's verdict is kept with it, not checked again
        with pytest.raises(errors.CandidateFailure) as failure:
            convert_along(["onnx-to-tvm"], Artifact("onnx", str(planted)), SIG, cache, check=check)
        assert failure.value.reason_class == errors.DISAGREES
        assert failure.value.message.startswith(f"preparation step {static.STEP} (input shapes fixed, shape arithmetic "
                                                "folded) changed the model: max abs error")
        assert "onnx-to-tvm failed: TypeError: Reshape requires" in failure.value.message  # why it was tried
    assert len(checked) == 1
    assert not (cache / "onnx-to-tvm" / "artifact.json").exists()  # nothing was built on it


def test_a_sound_preparation_step_is_checked_and_built_on(planted, tmp_path, raw_frontend):
    _needs_tvm()
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(str(planted), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    final, steps = convert_along(["onnx-to-tvm"], Artifact("onnx", str(planted)), SIG, tmp_path / "cache",
                                 check=lambda a: check_artifact(a, {"x": x}, [want], Tolerance()))
    assert final.format == "tvm-relax"
    assert steps[0]["converter"] == static.STEP and steps[0]["equivalence"]["agrees"]


@pytest.fixture
def shared_dim_onnx(tmp_path):
    """Two inputs whose dynamic lengths share one dimension name, as exporters name an encoder's and a decoder's
    'sequence' alike, on a fixed leading 1: compiled for static shapes, that name can hold only one of the lengths."""
    pytest.importorskip("onnx")
    from onnx import helper

    nodes = [helper.make_node("Concat", ["a", "b"], ["ab"], axis=1), helper.make_node("Tanh", ["ab"], ["y"])]
    return save_float_graph(tmp_path / "shared.onnx", nodes, {"a": [1, "seq"], "b": [1, "seq"]}, {"y": [1, None]})


def test_a_static_compile_that_breaks_the_model_falls_back_to_the_dynamic_graph(home, shared_dim_onnx, fast):
    pytest.importorskip("onnxruntime")
    run = edgepick.pick(str(shared_dim_onnx), input_shape="a=1x8,b=1x4", runtimes=["onnxruntime"], threads=[1],
                        batches=[1], timing=fast, precisions=["fp32"])
    row = run.rows[0]
    assert row["status"] == "ok", row["reason"]
    assert row["runtime_details"]["shape_mode"] == "dynamic (static compile off)"
    note = row["notes"][0]
    assert note.startswith("static compile (free-dimension overrides seq=8) failed: InvalidArgument during "
                           "first-inference"), note
    assert note.endswith("measured on the dynamic graph")
    from edgepick.store.db import Store
    from edgepick.store.result import run_from_db

    stored = run_from_db(Store(f"sqlite:///{home / 'results.db'}").get_run(run.run_id))
    assert stored.rows[0]["notes"] == row["notes"]  # the note round-trips through the store


@pytest.fixture
def sequence_first_onnx(tmp_path):
    """An OCR-style recogniser: input [1, 1, 32, W] (fixed leading 1, dynamic width), an LSTM inside, output
    [T, 1, C] with the sequence first: axis 0 of the output is not a batch."""
    torch = pytest.importorskip("torch")

    class Crnn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
                                            torch.nn.MaxPool2d((32, 4)))
            self.rnn = torch.nn.LSTM(8, 16, bidirectional=True)
            self.fc = torch.nn.Linear(32, 10)

        def forward(self, x):
            features = self.conv(x).squeeze(2).permute(2, 0, 1)
            return self.fc(self.rnn(features)[0]).softmax(-1)

    torch.manual_seed(0)
    path = tmp_path / "crnn.onnx"
    torch.onnx.export(Crnn().eval(), (torch.randn(1, 1, 32, 64),), str(path), input_names=["x"], output_names=["probs"],
                      dynamic_axes={"x": {3: "width"}, "probs": {0: "T"}}, dynamo=False)
    return path


def test_a_sequence_first_output_on_a_fixed_batch_is_compared_whole(home, sequence_first_onnx, fast):
    """Issue 24, finding 2 as seen: ORT and OpenVINO rows gave (1, 1, C) against the reference's (32, 1, C). The
    worker cut every output's axis 0 to the batch; a full call's outputs are now kept whole."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    run = edgepick.pick(str(sequence_first_onnx), input_shape="1x1x32x128", runtimes=["onnxruntime", "openvino"],
                        threads=[1], batches=[1], timing=fast, precisions=["fp32"])
    assert {r["runtime"]: r["status"] for r in run.rows} == {"onnxruntime": "ok", "openvino": "ok"}, \
        [r["reason"] for r in run.rows]
    assert all(r["equivalence"]["max_abs_err"] < 1e-5 for r in run.rows)


def test_a_step_check_compares_a_sequence_first_output_whole(sequence_first_onnx):
    """Seen on an LSTM OCR: the check cut the reference's axis 0 ([T, 1, C]) to the sample count and blamed onnxslim."""
    ort = pytest.importorskip("onnxruntime")
    x = np.random.default_rng(0).standard_normal((1, 1, 32, 128)).astype(np.float32)
    want = ort.InferenceSession(str(sequence_first_onnx), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert want[0].shape[0] == 32  # the sequence, not the one sample
    eq = check_artifact(Artifact("onnx", str(sequence_first_onnx)), {"x": x}, want, Tolerance())
    assert eq["checked"] and eq["agrees"], eq


def test_a_step_whose_graph_does_not_run_is_a_conversion_error_not_a_changed_model(planted, tmp_path):
    pytest.importorskip("onnxslim")
    with pytest.raises(errors.CandidateFailure) as failure:
        static.simplified_step(Artifact("onnx", str(planted)), SIG, tmp_path / "slim", "tvm failed: X",
                               check=lambda artifact: {"checked": True, "agrees": False, "runs": False,
                                                       "why": "Fail: Load model failed"})
    assert failure.value.reason_class == errors.CONVERSION_ERROR
    assert "made a graph ONNX Runtime cannot run: Fail: Load model failed" in failure.value.message
