"""LiteRT (formerly TensorFlow Lite): a .tflite flatbuffer run by ai-edge-litert's Interpreter on CPU.

XNNPACK is LiteRT's default CPU delegate (OpResolverType.AUTO applies it at allocate_tensors). That is not taken on
faith: load() captures what the interpreter writes to stderr while it allocates, and the row records whether the
"XNNPACK delegate" line appeared (runtime_details.delegate). The interpreter's num_threads is the thread count of both
the builtin kernels and the XNNPACK delegate it creates.
"""

from __future__ import annotations

import os
import re
import tempfile

import numpy as np

from edgepick.core import errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes.base import Runtime, Session


def capture_stderr(action):
    """Run action() while the C++ side's stderr (fd 2) goes to a file; return (result, text). The text is written back
    to stderr afterwards so the worker's log still has it."""
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            value = action()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    os.write(2, text.encode())
    return value, text


class _LiteRtSession(Session):
    def __init__(self, interpreter, details: dict):
        self.interpreter = interpreter
        self.details = details  # recorded in the row as runtime_details
        self.inputs = interpreter.get_input_details()
        self.outputs = interpreter.get_output_details()

    def _index_of(self, names: list[str]) -> list[int]:
        """Feed by name when the .tflite kept the names, else by position (converters rename inputs)."""
        by_name = {d["name"]: d["index"] for d in self.inputs}
        if all(n in by_name for n in names):
            return [by_name[n] for n in names]
        # TF's converter names a SavedModel input "serving_default_<name>:0"
        by_name = {re.sub(r"^serving_default_|:\d+$", "", d["name"]): d["index"] for d in self.inputs}
        if all(n in by_name for n in names):
            return [by_name[n] for n in names]
        if len(names) != len(self.inputs):
            raise errors.CandidateFailure(errors.LOAD_ERROR, f"the .tflite has {len(self.inputs)} inputs, the model {len(names)}")
        return [d["index"] for d in self.inputs]

    def prepare(self, inputs):
        # Copy the inputs into the interpreter's own buffers before the clock starts: the timed call is invoke().
        names = list(inputs)
        indices = self._index_of(names)
        current = {d["index"]: tuple(int(x) for x in d["shape"]) for d in self.interpreter.get_input_details()}
        changed = [(i, inputs[n].shape) for n, i in zip(names, indices) if tuple(inputs[n].shape) != current[i]]
        if changed:
            try:  # strict: only dims the model declares dynamic (-1 in shape_signature) may change
                for index, shape in changed:
                    self.interpreter.resize_tensor_input(index, list(shape), strict=True)
                self.interpreter.allocate_tensors()
            except Exception as e:
                raise errors.CandidateFailure(errors.UNSUPPORTED_SHAPE, f"the .tflite has a fixed input shape "
                                              f"{sorted(current.values())}; cannot resize to {[tuple(s) for _, s in changed]}: "
                                              f"{errors.first_line(e, 160)}") from e
        dtypes = {d["index"]: d for d in self.inputs}
        for name, index in zip(names, indices):
            self.interpreter.set_tensor(index, _quantized(np.asarray(inputs[name], order="C"), dtypes[index]))
        return None

    def run(self, prepared):
        self.interpreter.invoke()
        return None

    def to_numpy(self, outputs):
        return [_dequantized(np.array(self.interpreter.get_tensor(d["index"])), d) for d in self.outputs]


def _quantized(value: np.ndarray, detail: dict) -> np.ndarray:
    """Float data into a full-integer model's INT8/UINT8 input, with the model's own scale and zero point
    (compress/passes/litert_int8.py makes such models); integers into a narrower integer input where they fit;
    anything else is passed as it is."""
    scale, zero = detail.get("quantization", (0.0, 0))
    kind = np.dtype(detail["dtype"])
    if kind in (np.int8, np.uint8) and np.issubdtype(value.dtype, np.floating) and scale:
        info = np.iinfo(kind)
        return np.clip(np.round(value / scale) + zero, info.min, info.max).astype(kind)
    if np.issubdtype(value.dtype, np.integer) and np.issubdtype(kind, np.integer) and value.dtype != kind:
        info = np.iinfo(kind)  # the TFLite converters narrow int64 inputs (token ids) to int32: the same values fit
        if not value.size or (info.min <= value.min() and value.max() <= info.max):
            return value.astype(kind)
    return value


def _dequantized(value: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail.get("quantization", (0.0, 0))
    if value.dtype in (np.int8, np.uint8) and scale:
        return ((value.astype(np.float32) - zero) * scale).astype(np.float32)
    return value


class LiteRt(Runtime):
    name = "litert"
    formats = ("tflite",)
    import_name = "ai_edge_litert"
    distribution = "ai-edge-litert"
    extra = "litert"
    thread_setting = "Interpreter(num_threads=N) (also the XNNPACK delegate's threads)"
    description = "LiteRT (TFLite) Interpreter with its default XNNPACK CPU delegate, FP32"

    def import_framework(self) -> None:
        from ai_edge_litert import interpreter  # noqa: F401

    def load(self, artifact: Artifact, threads: int) -> Session:
        interpreter, log = capture_stderr(lambda: _allocated(artifact.path, threads))
        xnnpack = "XNNPACK delegate" in log
        details = {"delegate": "XNNPACK (default delegate; the interpreter logged its creation)" if xnnpack
                   else "none reported: the interpreter did not log an XNNPACK delegate (builtin kernels)",
                   **tensor_precision(interpreter)}
        return _LiteRtSession(interpreter, details)


def tensor_precision(interpreter) -> dict:
    """The precision the interpreter computes in, read from its tensors: XNNPACK runs FP32 kernels for FP32 tensors
    (FP16 only when forced by a delegate flag, which the Python Interpreter does not set); INT8 tensors mean
    quantized kernels. FP16 weights in an FP32 model are dequantized to FP32 at load."""
    kinds = {str(np.dtype(d["dtype"])) for d in interpreter.get_tensor_details()}
    if kinds & {"int8", "uint8"}:
        used = "int8+f32"
    else:
        used = "f32"
    return {"precision_used": used, "precision_source": f"tensor dtypes {sorted(kinds)}; XNNPACK default flags "
            "(no FORCE_FP16)", "shape_mode": "static (tensors allocated for the fed shape)"}


def _allocated(path: str, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter
