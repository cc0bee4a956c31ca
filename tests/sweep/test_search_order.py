"""The search's orders (sweep/search.py): conversions run ahead longest first (LPT: the slowest converters start
before the quick ones, so the phase ends when the work does, not when a long conversion started last does); runtimes
are measured likely winners first, each runtime's configurations together."""

from __future__ import annotations

from types import SimpleNamespace

from edgepick.plan.planner import Candidate
from edgepick.sweep import search


class _Sweep(SimpleNamespace):
    """The scheduler's sweep as _convert_ahead sees it: records the order conversions are asked for."""

    def convert(self, cand, run_dir):
        self.asked.append("+".join(cand.path))

    def notify(self, kind, info):
        pass


def test_the_longest_conversions_start_first():
    paths = [["torch-to-onnx"], ["torch-to-onnx", "onnx-to-openvino"], ["torch-to-torchscript"],
             ["torch-to-litert"], ["torch-to-onnx", "onnx2tf-savedmodel"], ["torch-to-executorch"],
             ["torch-to-onnx", "onnx-to-tvm"]]
    cands = [Candidate("r", "fp32", 1, 1, p) for p in paths]
    sw = _Sweep(asked=[], run_dir=None, request=SimpleNamespace(target=SimpleNamespace(cores=[0])))
    search._convert_ahead(sw, cands)  # one core: one conversion at a time, in the order chosen
    assert sw.asked[:4] == ["torch-to-onnx+onnx2tf-savedmodel", "torch-to-litert", "torch-to-executorch",
                            "torch-to-onnx+onnx-to-tvm"]
    assert sorted(sw.asked) == sorted("+".join(p) for p in paths)  # each distinct path once


def test_runtimes_are_ordered_by_their_expected_rank_at_the_smallest_batch():
    cands = [Candidate(rt, prec, 2, b, []) for rt, prec, b in (
        ("onnxruntime", "fp32", 1), ("onnxruntime", "fp32", 8), ("openvino", "fp32", 1), ("openvino", "bf16", 1),
        ("openvino", "bf16", 8), ("litert", "fp32", 1), ("litert", "fp32", 8))]
    history = {  # litert best at batch 1; OpenVINO BF16 best at batch 8, 2.4x at batch 1; ONNX Runtime 1.7x
        "litert/fp32/t2/b1": 1.0, "litert/fp32/t2/b8": 3.0, "openvino/bf16/t2/b8": 1.0, "openvino/bf16/t2/b1": 2.4,
        "openvino/fp32/t2/b1": 2.5, "onnxruntime/fp32/t2/b1": 1.7, "onnxruntime/fp32/t2/b8": 1.3}
    predicted = {k: {"history_ratio": v} for k, v in history.items()}
    got = [c.key for c in search.order(cands, predicted)]
    assert got == ["litert/fp32/t2/b1", "litert/fp32/t2/b8", "onnxruntime/fp32/t2/b1", "onnxruntime/fp32/t2/b8",
                   "openvino/bf16/t2/b1", "openvino/fp32/t2/b1", "openvino/bf16/t2/b8"]
    # without history: the prior's order, a runtime's batch sizes together, smallest first
    assert [c.key for c in search.order(cands, {})][:4] == [
        "onnxruntime/fp32/t2/b1", "onnxruntime/fp32/t2/b8", "openvino/fp32/t2/b1", "openvino/bf16/t2/b1"]
