"""Fuzz targets: every parser edgepick runs on what a user hands it, driven by Hypothesis.

The property is the project's error rule: a parser either accepts its input or raises UserError (one line, exit 2).
Any other exception is a finding: the CLI would print a traceback. A crash of the process is a finding too.
Byte-level targets mutate a valid seed file (flip, overwrite, truncate, splice) so most inputs get past the magic
bytes and into the parser proper; text targets draw from the grammar's own tokens plus arbitrary unicode.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from edgepick.core.errors import UserError

WORK = Path(tempfile.mkdtemp(prefix="edgepick-fuzz-"))
SEEDS: dict[str, bytes] = {}


# --- seeds: one small valid file per format ------------------------------------------------------------------------

def _onnx_seed() -> bytes:
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], np.ones(12, np.float32).tolist())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _pt2_seed() -> bytes:
    import torch

    torch.manual_seed(0)
    program = torch.export.export(torch.nn.Linear(4, 3).eval(), (torch.randn(1, 4),))
    buf = io.BytesIO()
    torch.export.save(program, buf)
    return buf.getvalue()


def _npz_seed() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((4, 4), np.float32), y=np.arange(4))
    return buf.getvalue()


def _tflite_seed() -> bytes | None:
    try:
        import tensorflow as tf
    except ImportError:
        return None
    module = tf.Module()
    module.f = tf.function(lambda x: tf.nn.relu(x) * 2.0, input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    return tf.lite.TFLiteConverter.from_concrete_functions([module.f.get_concrete_function()], module).convert()


def _keras_seed() -> bytes | None:
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    try:
        import keras
    except ImportError:
        return None
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    path = WORK / "seed.keras"
    model.save(path)
    return path.read_bytes()


CAFFE_PROTOTXT = 'name: "n"\ninput: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: 8\ninput_dim: 8\n' \
                 'layer { name: "r" type: "ReLU" bottom: "data" top: "out" }\n'
DARKNET_CFG = "[net]\nbatch=1\nchannels=3\nheight=8\nwidth=8\n\n[convolutional]\nfilters=4\nsize=3\n"


def seed(name: str) -> bytes | None:
    if name not in SEEDS:
        makers = {"onnx": _onnx_seed, "pt2": _pt2_seed, "npz": _npz_seed, "tflite": _tflite_seed, "keras": _keras_seed,
                  "prototxt": lambda: CAFFE_PROTOTXT.encode(), "cfg": lambda: DARKNET_CFG.encode()}
        SEEDS[name] = makers[name]()
    return SEEDS[name]


# --- strategies ----------------------------------------------------------------------------------------------------

@st.composite
def mutated(draw, data: bytes) -> bytes:
    """A valid file with a few edits: most of the structure survives, so the parser's depths get exercised."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "splice", "delete"]))
        pos = draw(st.integers(0, max(0, len(out) - 1)))
        if kind == "flip" and out:
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and out:
            out[pos] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif kind == "truncate":
            del out[pos:]
        elif kind == "splice":
            out[pos:pos] = draw(st.binary(max_size=32))
        elif kind == "delete":
            del out[pos:pos + draw(st.integers(1, 64))]
    return bytes(out)


def file_bytes(fmt: str):
    base = seed(fmt)
    return st.one_of(mutated(base), st.binary(max_size=256)) if base else st.binary(max_size=512)


SHAPE_TOKENS = st.sampled_from(["1", "3", "224", "0", "-1", "x", "X", ",", "=", "ids", "mask", " ", "", "1e3",
                                "99999999999999999999", "?", "N", "٣", "²"])
BUDGET_TOKENS = st.sampled_from(["p50", "p90", "p99", "mem", "size", "acc_drop", "throughput", "<=", ">=", "<", "=",
                                 ",", "15", "0", "-1", "1e309", "nan", "inf", "ms", "s", "MB", "GB", "%", "/s", " ",
                                 "latency", "1.5", "١٥"])
OBJECTIVE_TOKENS = st.sampled_from(["latency", "throughput", "memory", "size", "accuracy", "=", ",", "0.7", "0.3",
                                    "-1", "nan", "inf", "0", " ", "1e309"])


def joined(tokens):
    return st.one_of(st.lists(tokens, max_size=12).map("".join), st.text(max_size=40))


YAML_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                        st.text(max_size=12), st.lists(st.integers(-5, 5), max_size=4),
                        st.sampled_from(["512MB", "1GB", "-1MB", "0", "abc", "1.5GiB", "linux-arm64", "android-arm64"]))
YAML_KEYS = st.sampled_from(["name", "cores", "threads", "memory", "memory_mechanism", "platform", "frequency",
                             "thermal", "notes", "unknown_key"])


# --- the properties ------------------------------------------------------------------------------------------------

def _write(suffix: str, data: bytes) -> Path:
    path = WORK / f"case{suffix}"
    path.write_bytes(data)
    return path


def check_model_file(fmt: str, data: bytes) -> None:
    from edgepick.inputs.model import load_model

    suffix = {"prototxt": ".prototxt", "cfg": ".cfg"}.get(fmt, f".{fmt}")
    path = _write(suffix, data)
    if fmt in ("prototxt", "cfg"):  # the weights file sits beside the text file
        (WORK / ("case.caffemodel" if fmt == "prototxt" else "case.weights")).write_bytes(b"\0" * 64)
    try:
        load_model(str(path))
    except UserError:
        pass


def check_input_shape(text: str) -> None:
    from edgepick.inputs.signature import Signature, TensorSpec, apply_shapes, parse_input_shapes

    sig = Signature([TensorSpec("ids", [None, 128], "int64", True), TensorSpec("mask", [None, None], "int64", True)])
    try:
        apply_shapes(sig, parse_input_shapes(text))
    except UserError:
        pass


def check_budget(text: str, objective: str) -> None:
    from edgepick.select.budget import parse_budget, parse_objective

    for parse, value in ((parse_budget, text), (parse_objective, objective)):
        try:
            parse(value)
        except UserError:
            pass


def check_device_yaml(text: str) -> None:
    from edgepick.plan.devices import load_device

    path = WORK / "device.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_device(str(path))
    except UserError:
        pass


def check_npz_bytes(data: bytes) -> None:
    _check_npz(_write(".npz", data))


def check_npz_arrays(arrays: dict[str, np.ndarray]) -> None:
    path = WORK / "arrays.npz"
    with zipfile.ZipFile(path, "w") as z:  # np.savez, but object arrays are stored as the pickles they are
        for name, arr in arrays.items():
            with z.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, arr, allow_pickle=True)
    _check_npz(path)


def _check_npz(path: Path) -> None:
    from edgepick.inputs.data import check_against_signature, read_data_arg
    from edgepick.inputs.signature import Signature, TensorSpec

    sig = Signature([TensorSpec("input", [None, 4], "float32", True)])
    try:
        read = read_data_arg(str(path), sig, 512)
        check_against_signature(read[0], sig, read[2])
    except UserError:
        pass
