"""Conversions run ahead longest first (sweep/search.py, LPT): the slowest converters start before the quick ones,
so the phase ends when the work does, not when a long conversion started last does."""

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
