"""One registry style for runtimes, converters and compressors.

A registry maps a name to a dotted path "package.module:Class". The plugin module is imported only when the
entry is first asked for, and plugin modules themselves import their heavy framework only inside methods, so
`import edgepick` stays light. Third parties add entries through the entry-point group `edgepick.<kind>`.
"""

from __future__ import annotations

import importlib
from importlib import metadata


class Registry:
    def __init__(self, kind: str, builtins: dict[str, str]):
        self.kind = kind
        self._paths: dict[str, str] = {}
        self._loaded: dict[str, type] = {}
        self._entry_points_read = False
        for name, path in builtins.items():
            self.register(name, path)

    def register(self, name: str, dotted_path: str) -> None:
        if name in self._paths:
            raise ValueError(f"{self.kind} '{name}' is already registered ({self._paths[name]})")
        self._paths[name] = dotted_path

    def _read_entry_points(self) -> None:
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in metadata.entry_points(group=f"edgepick.{self.kind}"):
            self.register(ep.name, ep.value)

    def names(self) -> list[str]:
        self._read_entry_points()
        return list(self._paths)

    def get(self, name: str) -> type:
        self._read_entry_points()
        if name not in self._loaded:
            if name not in self._paths:
                raise KeyError(name)
            module_name, _, attr = self._paths[name].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module_name), attr)
        return self._loaded[name]

    def all(self) -> dict[str, type]:
        return {name: self.get(name) for name in self.names()}


RUNTIMES = Registry(
    "runtimes",
    {
        "torch-eager": "edgepick.runtimes.torch_eager:TorchEager",
        "onnxruntime": "edgepick.runtimes.onnxruntime:OnnxRuntime",
        "openvino": "edgepick.runtimes.openvino:OpenVino",
        "torch-compile": "edgepick.runtimes.torch_compile:TorchCompile",
        "torchscript": "edgepick.runtimes.torchscript:TorchScript",
        "executorch": "edgepick.runtimes.executorch:ExecuTorch",
        "opencv-dnn": "edgepick.runtimes.opencv_dnn:OpenCvDnn",
        "ncnn": "edgepick.runtimes.ncnn:Ncnn",
        "tvm": "edgepick.runtimes.tvm:Tvm",
        "tensorflow": "edgepick.runtimes.tensorflow:TensorFlow",
        "litert": "edgepick.runtimes.litert:LiteRt",
        "keras-jax": "edgepick.runtimes.keras_jax:KerasJax",
        "mxnet": "edgepick.runtimes.mxnet:MxNet",
    },
)

CONVERTERS = Registry(
    "converters",
    {
        "torch-to-onnx": "edgepick.convert.torch_to_onnx:TorchToOnnx",
        "onnx-to-openvino": "edgepick.convert.onnx_to_openvino:OnnxToOpenVino",
        "torch-to-torchscript": "edgepick.convert.torch_to_torchscript:TorchToTorchScript",
        "torch-to-executorch": "edgepick.convert.torch_to_executorch:TorchToExecuTorch",
        "pnnx": "edgepick.convert.to_ncnn:Pnnx",
        "onnx-to-tvm": "edgepick.convert.onnx_to_tvm:OnnxToTvm",
        "tf2onnx": "edgepick.convert.tf_to_onnx:TfToOnnx",
        "tf-to-tflite": "edgepick.convert.tf_to_tflite:TfToTflite",
        "torch-to-litert": "edgepick.convert.torch_to_litert:TorchToLitert",
        "onnx2tf": "edgepick.convert.onnx_to_tflite:OnnxToTflite",
        "onnx2tf-savedmodel": "edgepick.convert.onnx_to_savedmodel:OnnxToSavedModel",
        "onnx2keras": "edgepick.convert.onnx_to_keras:OnnxToKeras",
        "onnx2torch": "edgepick.convert.onnx_to_torch:OnnxToTorch",
        "torchscript-to-onnx": "edgepick.convert.torchscript_to_onnx:TorchScriptToOnnx",
    },
)

COMPRESSORS = Registry(
    "compressors",
    {
        "fp16-onnx": "edgepick.compress.passes.fp16:OnnxFloat16",
        "fp16-openvino": "edgepick.compress.passes.fp16:OpenVinoFp16Hint",
        "int8-dynamic": "edgepick.compress.passes.int8_dynamic:OrtInt8Dynamic",
        "int8-static": "edgepick.compress.passes.int8_static:OrtInt8Static",
        "int8-static-nncf": "edgepick.compress.passes.nncf_openvino:NncfQuantize",
        "int8-static-litert": "edgepick.compress.passes.litert_int8:LitertFullInteger",
        "int8-static-pt2e": "edgepick.compress.passes.pt2e:Pt2eX86Inductor",
        "prune": "edgepick.compress.passes.prune:StructuredPrune",
        "sparsity": "edgepick.compress.passes.sparsity:MagnitudeSparsity",
        "distill": "edgepick.compress.passes.distill:Distill",
        "simplify": "edgepick.compress.passes.simplify:SimplifyFuse",
    },
)
