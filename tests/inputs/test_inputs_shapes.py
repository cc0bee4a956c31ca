"""Inputs users bring (issue 10, item 6): a 0-d int64 input beside a recurrent state (no batch axis), int64 token
ids with an attention mask, several inputs of different ranks, and fixed values with --input-value.

The models are real ONNX graphs exported from torch (a 2-layer GRU like Silero VAD; a one-layer transformer encoder)
and run on the real runtimes; the unit tests pin what synthetic data looks like for each dtype and role.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.helpers import FAST_ARGS, cli

import edgepick
from edgepick.core.errors import UserError
from edgepick.inputs.data import eval_data, load_inputs_npz
from edgepick.inputs.model import load_model
from edgepick.inputs.signature import (
    Signature,
    TensorSpec,
    apply_shapes,
    parse_input_shapes,
    parse_input_values,
    require_resolved,
    synthetic_array,
)


class _Vad(torch.nn.Module):
    """Silero-VAD-like: audio frames, a GRU state [layers, 1, hidden], and a scalar sample rate that changes the math."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.gru = torch.nn.GRU(8, 16, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(16, 1)

    def forward(self, x, state, sr):
        x = torch.where(sr == 16000, x, x * 2.0)  # 8 kHz audio is scaled: a wrong sr gives other outputs
        y, h = self.gru(x, state)
        return torch.sigmoid(self.head(y[:, -1])), h


class _Encoder(torch.nn.Module):
    """A transformer encoder layer over int64 token ids (vocabulary 50) with an int64 attention mask."""

    def __init__(self, vocab=50, d=32):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(vocab, d)
        self.layer = torch.nn.TransformerEncoderLayer(d, 4, 64, dropout=0.0, batch_first=True)
        self.head = torch.nn.Linear(d, 3)

    def forward(self, input_ids, attention_mask):
        n = input_ids.shape[1]
        bias = (1.0 - attention_mask[:, None, None, :].float()) * -1e4
        h = self.layer(self.emb(input_ids), src_mask=bias.expand(-1, 4, n, -1).reshape(-1, n, n))
        m = attention_mask.unsqueeze(-1).float()
        return self.head((h * m).sum(1) / m.sum(1))


def _export(module, example, path, names, dynamic=None):
    torch.onnx.export(module.eval(), example, str(path), input_names=names, dynamic_axes=dynamic or {}, dynamo=False)
    return path


@pytest.fixture
def vad_onnx(tmp_path):
    return _export(_Vad(), (torch.randn(1, 10, 8), torch.zeros(2, 1, 16), torch.tensor(16000)), tmp_path / "vad.onnx",
                   ["x", "state", "sr"])


@pytest.fixture
def encoder_onnx(tmp_path):
    ids, mask = torch.randint(0, 50, (2, 16)), torch.ones(2, 16, dtype=torch.int64)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    return _export(_Encoder(), (ids, mask), tmp_path / "encoder.onnx", ["input_ids", "attention_mask"], axes)


def _rows(stdout: str) -> dict:
    return {(r["runtime"], r["batch"]): r for r in json.loads(stdout)["candidates"] if r["precision"] == "fp32"}


def _fp32(rows: list[dict]) -> list[dict]:
    """The FP32 rows (a BF16-capable CPU adds BF16 rows, judged on their own terms)."""
    return [r for r in rows if r["precision"] == "fp32"]


def test_recurrent_model_with_a_scalar_sample_rate_runs_end_to_end(home, vad_onnx):
    proc = cli("run", str(vad_onnx), "--runtimes", "onnxruntime,openvino", "--batch", "1,2",
               "--input-value", "sr=16000", "--json", *FAST_ARGS)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    rows = _rows(proc.stdout)
    for rt in ("onnxruntime", "openvino"):
        assert rows[rt, 1]["status"] == "ok", rows[rt, 1]["reason"]
        blocked = rows[rt, 2]
        assert blocked["reason_class"] == "unsupported-shape" and "no batch dimension" in blocked["reason"]
        assert "'sr' is a scalar" in blocked["reason"]
    run_id = json.loads(proc.stdout)["run_id"]
    feeds = load_inputs_npz(home / "runs" / run_id / "eval_inputs.npz")
    assert feeds.whole_feeds and feeds["sr"].shape == (16,) and (feeds["sr"] == 16000).all()
    assert feeds["x"].shape == (16, 1, 10, 8) and feeds["state"].shape == (16, 2, 1, 16)
    assert feeds["sr"].dtype == np.int64 and feeds["x"].dtype == np.float32


def test_the_fixed_value_reaches_the_model(tmp_path, vad_onnx):
    spec = load_model(str(vad_onnx))
    parse_input_values({"sr": 8000}, spec.signature)
    data = eval_data(None, spec.signature, None, 16)
    assert (data.inputs["sr"] == 8000).all()
    from edgepick.worker.reference import reference_outputs

    _, at_8k = reference_outputs(spec, data.inputs, 1)
    data.inputs["sr"][:] = 16000
    _, at_16k = reference_outputs(spec, data.inputs, 1)
    assert at_8k[0].shape == (16, 1, 1) and at_8k[1].shape == (16, 2, 1, 16)  # one output set per whole input
    assert not np.allclose(at_8k[0], at_16k[0])


def test_token_ids_and_mask_with_a_dynamic_sequence(home, encoder_onnx, fast):
    run = edgepick.pick(str(encoder_onnx), input_shape="input_ids=1x16,attention_mask=1x16",
                        runtimes=["onnxruntime", "openvino"], batches=[1, 2], timing=fast)
    assert all(r["status"] == "ok" for r in _fp32(run.rows)), [(r["key"], r["reason"]) for r in run.rows]
    sig = run.request["signature"]["inputs"]
    assert [(t["name"], t["dtype"], t["high"]) for t in sig] == [("input_ids", "int64", 50), ("attention_mask", "int64", None)]


def test_a_dynamic_sequence_without_a_shape_names_every_open_input(home, encoder_onnx):
    proc = cli("run", str(encoder_onnx), "--runtimes", "onnxruntime")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "input_ids=1xN,attention_mask=1xN" in proc.stderr


def test_a_model_that_fails_on_the_inputs_is_one_line(home, encoder_onnx):
    proc = cli("run", str(encoder_onnx), "--input-shape", "input_ids=1x16,attention_mask=1x16",
               "--input-value", "input_ids=70", "--runtimes", "onnxruntime")  # 70 is past the 50-row embedding
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "fails on the eval inputs" in proc.stderr and "--data" in proc.stderr


def test_whole_inputs_from_data_with_a_fixed_value(home, vad_onnx, fast):
    rng = np.random.default_rng(0)
    np.savez(home.parent / "audio.npz", x=rng.standard_normal((5, 1, 10, 8)).astype(np.float32),
             state=np.zeros((5, 2, 1, 16), np.float32))
    run = edgepick.pick(str(vad_onnx), data="audio.npz", input_values="sr=16000", runtimes=["onnxruntime"], timing=fast)
    assert _fp32(run.rows)[0]["status"] == "ok", run.rows[0]["reason"]
    assert run.request["eval_samples"] == 5
    np.savez(home.parent / "flat.npz", x=rng.standard_normal((5, 10, 8)).astype(np.float32),
             state=np.zeros((5, 2, 1, 16), np.float32))
    proc = cli("run", str(vad_onnx), "--data", "flat.npz", "--input-value", "sr=16000")
    assert proc.returncode == 2 and "no batch axis" in proc.stderr and "1x10x8" in proc.stderr


@pytest.mark.parametrize("given, message", [("rate=16000", "not an input"), ("sr=abc", "not a number"),
                                            ("sr=1.5", "integer"), ("sr=1e30", "integer")])
def test_bad_input_values_are_one_line(home, vad_onnx, given, message):
    proc = cli("run", str(vad_onnx), "--input-value", given)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.slow  # torch.export, ONNX export, OpenVINO conversion and three workers
def test_torch_module_with_a_scalar_input_and_state(home, fast):
    run = edgepick.pick(_Vad(), input_shape="x=1x10x8,state=2x1x16,sr=scalar:int64", input_values={"sr": 16000},
                        runtimes=["torch-eager", "onnxruntime", "openvino"], timing=fast)
    rows = {r["runtime"]: r for r in _fp32(run.rows)}
    assert rows["torch-eager"]["status"] == rows["onnxruntime"]["status"] == "ok", [r["reason"] for r in run.rows]
    onnx_step = rows["openvino"]["conversion"][0]  # the intermediate ONNX, checked one whole input set per call
    assert onnx_step["converter"] == "torch-to-onnx" and onnx_step["equivalence"]["agrees"], onnx_step


def test_inputs_of_different_ranks_keep_a_shared_batch_axis():
    sig = Signature([TensorSpec("image", [None, 3, 8, 8], "float32", True), TensorSpec("meta", [None, 4], "float32", True)])
    apply_shapes(sig, {})
    assert not sig.whole_feeds and sig.supports_batch(8)
    assert {k: v.shape for k, v in sig.synthetic_samples(5, 0).items()} == {"image": (5, 3, 8, 8), "meta": (5, 4)}


def test_which_models_are_fed_whole():
    def sig(*specs):
        return Signature([TensorSpec(n, s, "float32", d) for n, s, d in specs])

    assert sig(("x", [1, 10], False), ("sr", [], False)).whole_feeds  # a scalar
    assert sig(("x", [1, 10, 8], False), ("state", [2, 1, 16], False)).whole_feeds  # leading dims differ
    assert sig(("x", [1, 10], True), ("state", [2, 1, 16], False)).whole_feeds  # a dynamic 1 beside a fixed 2
    assert not sig(("ids", [1, 128], True), ("mask", [1, 128], False)).whole_feeds  # a dynamic 1 beside a fixed 1
    settled = sig(("x", [1, 10], True), ("state", [2, 1, 16], False)).settle()
    assert not any(t.batch_dynamic for t in settled.inputs) and Signature.from_dict(settled.to_dict()).whole_feeds
    forced = sig(("x", [20, 8], True))
    forced.whole = True  # --no-batch-axis
    assert Signature.from_dict(forced.settle().to_dict()).whole_feeds
    assert not sig(("x", [1, 3, 8, 8], False), ("y", [1, 4], False)).whole_feeds  # one fixed batch of 1
    blocked = sig(("x", [1, 10, 8], False), ("state", [2, 1, 16], False)).batch_blocker(4)
    assert "no batch dimension" in blocked and "state 2x1x16" in blocked


def test_synthetic_values_follow_dtype_and_role():
    rng = np.random.default_rng(0)
    ids = synthetic_array(TensorSpec("input_ids", [4, 32], "int64"), (4, 32), rng)
    assert ids.dtype == np.int64 and 0 <= ids.min() and ids.max() < 100
    small_vocab = synthetic_array(TensorSpec("ids", [4, 32], "int32", high=7), (4, 32), rng)
    assert small_vocab.dtype == np.int32 and small_vocab.max() < 7
    mask = synthetic_array(TensorSpec("attention_mask", [4, 32], "int64"), (4, 32), rng)
    assert set(np.unique(mask)) <= {0, 1} and (mask[:, 0] == 1).all()
    assert (np.diff(mask, axis=1) <= 0).all()  # ones, then padding: never a 1 after a 0
    assert (synthetic_array(TensorSpec("token_type_ids", [2, 8], "int64"), (2, 8), rng) == 0).all()
    pos = synthetic_array(TensorSpec("position_ids", [2, 8], "int64"), (2, 8), rng)
    assert (pos == np.arange(8)).all()
    flags = synthetic_array(TensorSpec("keep", [64], "bool"), (64,), rng)
    assert flags.dtype == np.bool_ and flags.any() and not flags.all()
    pixels = synthetic_array(TensorSpec("image", [1, 8, 8, 3], "uint8"), (1, 8, 8, 3), rng)
    assert pixels.dtype == np.uint8 and pixels.max() > 200
    rate = synthetic_array(TensorSpec("sr", [], "int64", value=16000), (), rng)
    assert rate.shape == () and rate == 16000
    floats = synthetic_array(TensorSpec("x", [1000], "float16"), (1000,), rng)
    assert floats.dtype == np.float16 and 0.8 < floats.std() < 1.2


def test_shape_text_takes_scalars_and_dtypes():
    shapes = parse_input_shapes("x=1x10x8,sr=scalar:int64")
    assert shapes == {"x": [1, 10, 8], "sr": []} and shapes["sr"].dtype == "int64" and shapes["x"].dtype is None
    for bad in ("x=1x2:int65", "x=scalarx2"):
        with pytest.raises(UserError):
            parse_input_shapes(bad)
    sig = Signature([TensorSpec("flag", [], "bool")])
    parse_input_values(["flag=true"], sig)
    assert sig.inputs[0].value is True
    with pytest.raises(UserError, match="input 'x'"):
        require_resolved(Signature([TensorSpec("x", [None, None, 8], "float32", True)]))


class _Unbatched(torch.nn.Module):
    """A GRU over one unbatched sequence x [T, F]: its first dim is time, not a batch."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.gru = torch.nn.GRU(8, 16)

    def forward(self, x):
        return self.gru(x)[0][-1]


def test_no_batch_axis_feeds_a_sequence_whole(home, tmp_path, fast):
    path = _export(_Unbatched(), (torch.randn(20, 8),), tmp_path / "seq.onnx", ["x"], {"x": {0: "time"}})
    run = edgepick.pick(str(path), input_shape="x=20x8", no_batch_axis=True, runtimes=["onnxruntime"], batches=[1, 2],
                        timing=fast)
    rows = {r["batch"]: r for r in _fp32(run.rows)}
    assert rows[1]["status"] == "ok", rows[1]["reason"]
    assert rows[2]["reason_class"] == "unsupported-shape" and "--no-batch-axis" in rows[2]["reason"]
    assert run.request["signature"]["inputs"][0]["shape"] == [20, 8]


def test_one_data_array_feeds_the_one_input_left_open():
    from edgepick.inputs.data import read_data_arg

    sig = Signature([TensorSpec("audio", [1, 512], "float32"), TensorSpec("sr", [], "int64")])
    audio = np.zeros((3, 1, 512), np.float32)
    with pytest.raises(UserError, match="one array per input name"):
        read_data_arg((audio, None), sig, 10)
    parse_input_values("sr=8000", sig)
    x, _, _ = read_data_arg((audio, None), sig, 10)
    assert list(x) == ["audio"]
    data = eval_data(None, sig, (audio, None), 10)
    assert data.whole_feeds and (data.inputs["sr"] == 8000).all() and data.inputs["sr"].shape == (3,)
