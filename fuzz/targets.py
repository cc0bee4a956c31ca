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


# --- the served model (http-body) and the exported bundle (infer-args) ---------------------------------------------
# Both drive a real process: one sweep of a tiny ONNX model per target process (tests/helpers.export_tiny_onnx), then
# `edgepick serve` on 127.0.0.1 (one server, each example a fresh connection) or `edgepick export` (one bundle, each
# example a run of its infer.py). A broken contract raises Finding, whose key groups findings of one kind (run.py
# saves one per key); a hang is a request or run that outlives its timeout.

ROOT = Path(__file__).resolve().parents[1]
HTTP_TIMEOUT_S = 30.0  # one request; the server answers in milliseconds, so this is a hang, not load
INFER_TIMEOUT_S = 120.0  # one infer.py run (Python, numpy and onnxruntime start in ~1 s on a loaded 2-core machine)
_STATE: dict = {}


class Finding(AssertionError):
    """A contract the process broke; `fuzz_key` names the kind (one saved finding per kind)."""

    def __init__(self, key: str, detail: str):
        super().__init__(f"{key}: {detail}")
        self.fuzz_key = key


def _env() -> dict:
    import os

    return dict(os.environ, EDGEPICK_HOME=str(WORK / "home"), PYTHONDONTWRITEBYTECODE="1")


def _die_with_parent() -> None:
    """preexec_fn: the server (or infer.py) gets SIGTERM when the fuzzing process dies, even by SIGKILL."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def swept_run() -> str:
    """A tiny ONNX classifier (input 'input', Nx1x8x8 float32) swept on onnxruntime once per process: its run id."""
    import json
    import subprocess
    import sys

    if "run" not in _STATE:
        sys.path.insert(0, str(ROOT))
        from tests.helpers import FAST_ARGS, export_tiny_onnx

        export_tiny_onnx(WORK / "tiny.onnx")
        res = subprocess.run([sys.executable, "-m", "edgepick.cli.main", "run", "tiny.onnx", "--runtimes", "onnxruntime",
                              "--threads", "1", "--precision", "fp32", *FAST_ARGS, "--no-noise-retry", "--json"],
                             capture_output=True, text=True, env=_env(), cwd=WORK, timeout=600)
        if res.returncode != 0:
            raise RuntimeError(f"the seed sweep failed: {res.stderr[-2000:]}")
        _STATE["run"] = json.loads(res.stdout)["run_id"]
    return _STATE["run"]


# http-body: POST /v1/infer with arbitrary bytes and hostile JSON

def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http(port: int, method: str, path: str, body: bytes | None = None, timeout: float = HTTP_TIMEOUT_S):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body, {"Content-Type": "application/json"} if body is not None else {})
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type") or "", resp.read()
    finally:
        conn.close()


def stop_server() -> None:
    import subprocess

    proc = _STATE.pop("server", None)
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def server() -> int:
    """`edgepick serve` of the swept run on 127.0.0.1 (started once, again only after it died or hung): its port."""
    import atexit
    import json
    import subprocess
    import sys
    import time

    proc = _STATE.get("server")
    if proc is not None and proc.poll() is None:
        return _STATE["port"]
    run_id = swept_run()
    port = _free_port()
    log = open(WORK / "serve.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "edgepick.cli.main", "serve", run_id, "--port", str(port)],
                            env=_env(), cwd=WORK, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
    if "atexit" not in _STATE:
        _STATE["atexit"] = atexit.register(stop_server)
    _STATE["server"], _STATE["port"] = proc, port
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"edgepick serve exited {proc.returncode}: {(WORK / 'serve.log').read_text()[-2000:]}")
        try:
            status, _, body = _http(port, "GET", "/healthz", timeout=5)
            if status == 200:
                _STATE["inputs"] = json.loads(body)["inputs"]
                return port
        except OSError:
            pass
        time.sleep(0.3)
    stop_server()
    raise RuntimeError("edgepick serve did not answer /healthz within 120 s")


class Raw(str):
    """A JSON token written as is (1e999, -0, a 5,000-digit integer, NaN): what json.dumps never writes."""


def to_json(value) -> str:
    """json.dumps that keeps Raw tokens verbatim and writes NaN/Infinity literals as Python's json does."""
    import json

    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{to_json(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


RAW_NUMBERS = st.sampled_from(["1e999", "-1e999", "1e-999", "-0", "-0.0", "0e0", "1E+38", "3.4028235e38",
                               "3.4028236e38", "-3.5e38", "1e-46", "NaN", "Infinity", "-Infinity", "9" * 400,
                               "-" + "9" * 5000, "1" + "0" * 4301, "0." + "0" * 500 + "1", "1.7976931348623157e308",
                               "2.5e-324", "00", "01", "+1", ".5", "5.", "1e", "0x10", "nan", "inf", "true", "null"])
JSON_SCALARS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-3.5e38, 3.5e38), st.integers(-2**70, 2**70),
    st.sampled_from([3.4e38, -3.4e38, 1e300, -1e300, 2**63, -2**63 - 1, 2**64, 0.0, -0.0, 1e-45, 5e-324]),
    st.booleans(), st.none(), st.text(max_size=6), RAW_NUMBERS.map(Raw))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=3)), max_leaves=20)


def _input_shapes() -> list:
    """The served model's inputs from /healthz: [(name, shape with 'N' for the batch)]."""
    server()
    return [(i["name"], i["shape"], i["dtype"]) for i in _STATE["inputs"]]


def _reshape(flat, dims: list[int]):
    if not dims:
        return next(flat)
    return [_reshape(flat, dims[1:]) for _ in range(dims[0])]


ELEMENTS = {"floats": st.floats(-10, 10, width=32), "scalars": JSON_SCALARS,
            "big": st.one_of(st.sampled_from([3.4e38, -3.4e38, 1e38, -1e38, 3e37]), st.floats(-3.4e38, 3.4e38))}


@st.composite
def tensor_like(draw, shape: list) -> list:
    """A nested list near the input's shape: right, one dimension off, another rank, or ragged. Its elements are
    normal floats with a drawn share replaced from a drawn pool (finite, huge, NaN, integers, strings, null...): a
    seeded numpy generator fills thousands of elements where drawing each would be 100x slower."""
    dims = [draw(st.sampled_from([1, 1, 1, 2, 3, 0, 64, 65])) if d == "N" else d for d in shape]
    how = draw(st.sampled_from(["right", "right", "right", "right", "dim", "rank", "ragged"]))
    if how == "dim" and dims:
        dims[draw(st.integers(0, len(dims) - 1))] = draw(st.sampled_from([0, 1, 2, 7, 9]))
    elif how == "rank":
        dims = dims[:draw(st.integers(0, len(dims)))] + draw(st.lists(st.integers(0, 3), max_size=2))
    pool = draw(st.lists(ELEMENTS[draw(st.sampled_from(["floats", "scalars", "big", "big"]))], min_size=1, max_size=6))
    share = draw(st.sampled_from([0.0, 0.01, 0.1, 0.5, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = int(np.prod(dims))
    flat = rng.standard_normal(n).astype(np.float32).tolist()
    for i in np.flatnonzero(rng.random(n) < share):
        flat[i] = pool[rng.integers(len(pool))]
    value = _reshape(iter(flat), dims)
    if how == "ragged" and isinstance(value, list) and value:
        value[draw(st.integers(0, len(value) - 1))] = draw(st.one_of(JSON_VALUES, st.just([])))
    return value


DEPTHS = st.sampled_from([1, 2, 10, 100, 990, 1000, 1001, 5000, 20000, 100_000, 200_000])


@st.composite
def http_bodies(draw) -> bytes:
    """Arbitrary bytes, a valid body's bytes edited, hostile JSON documents, deep nesting, other encodings."""
    inputs = _input_shapes()
    kind = draw(st.sampled_from(["bytes", "mutated", "tensors", "tensors", "tensors", "document", "deep", "unicode"]))
    if kind == "bytes":
        return draw(st.binary(max_size=512))
    valid = {name: draw(tensor_like(shape)) for name, shape, _ in inputs}
    if kind == "mutated":
        return draw(mutated(to_json({"inputs": valid}).encode()))
    if kind == "tensors":
        doc = {"inputs": valid}
        if draw(st.integers(0, 4)) == 0:  # an extra input, a missing one, or a wrong top level
            doc = draw(st.sampled_from([{"inputs": {**valid, "extra": [1]}}, {"inputs": {}}, {"input": valid},
                                        {"inputs": valid, "outputs": [1]}, [doc], {"inputs": [valid]}]))
        return to_json(doc).encode()
    if kind == "document":  # any JSON value at the top, in "inputs", or in place of the input
        value = draw(JSON_VALUES)
        name = inputs[0][0]
        doc = draw(st.sampled_from([value, {"inputs": value}, {"inputs": {name: value}}, {"inputs": {**valid, name: value}}]))
        return to_json(doc).encode()
    if kind == "deep":
        depth, name = draw(DEPTHS), inputs[0][0]
        open_, close = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"inputs":', "}"), ('[{"a":', "}]")]))
        inner = draw(st.sampled_from(["0", "", "1e999", "[0]", "NaN"]))
        closes = depth - draw(st.sampled_from([0, 0, 1, depth]))  # sometimes unbalanced or never closed
        body = open_ * depth + inner + close * closes
        if draw(st.booleans()):
            body = '{"inputs": {"' + name + '": ' + body + "}}"
        return body.encode()
    # unicode: names and text from all of Unicode (lone surrogates too), the body in another encoding or with a BOM
    import json

    key = draw(st.one_of(st.text(max_size=8), st.sampled_from([inputs[0][0] + "\u0000", "ｉｎｐｕｔ", "\ud800", "İnput"])))
    doc = draw(st.sampled_from([{"inputs": {key: valid[inputs[0][0]]}}, {key: valid}, {"inputs": {**valid, key: "\ufeff"}}]))
    text = to_json(doc) if draw(st.booleans()) else json.dumps(doc, ensure_ascii=False)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]))
    return text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")


def _strict_json(raw: bytes):
    """json.loads that refuses NaN/Infinity (not JSON; what a strict client such as JavaScript's JSON.parse does)."""
    import json

    def no_constant(token):
        raise ValueError(f"{token} is not JSON")
    return json.loads(raw, parse_constant=no_constant)


def check_http_body(body: bytes) -> None:
    """One POST /v1/infer: a 200 with finite outputs, or a 4xx with exactly {"error": "one line"}; never a 5xx or a hang."""
    port = server()
    try:
        status, ctype, raw = _http(port, "POST", "/v1/infer", body, timeout=HTTP_TIMEOUT_S)
    except TimeoutError:
        stop_server()  # a hung server answers nothing more: the next example starts a fresh one
        raise Finding("hang", f"no answer within {HTTP_TIMEOUT_S:g} s") from None
    except OSError as e:
        died = _STATE["server"].poll()
        stop_server()
        raise Finding("server died" if died is not None else "connection failed",
                      f"{type(e).__name__}: {e} (server exit {died})") from None
    if status >= 500:
        raise Finding(f"HTTP {status}", raw[:300].decode(errors="replace"))
    if status != 200 and not 400 <= status < 500:
        raise Finding(f"HTTP {status}", raw[:300].decode(errors="replace"))
    try:
        doc = _strict_json(raw)
    except ValueError as e:
        raise Finding("200 with NaN or Infinity" if status == 200 and (b"NaN" in raw or b"Infinity" in raw)
                      else "body not JSON", f"HTTP {status} ({e}): {raw[:300]!r}") from None
    if "application/json" not in ctype:
        raise Finding("not application/json", f"HTTP {status} content-type {ctype!r}")
    if status == 200:
        if not isinstance(doc, dict) or set(doc) != {"outputs", "rows"} or not isinstance(doc["outputs"], list) \
                or not isinstance(doc["rows"], int) or not 1 <= doc["rows"] <= 64:
            raise Finding("200 of another shape", raw[:300].decode(errors="replace"))
    elif not isinstance(doc, dict) or set(doc) != {"error"} or not isinstance(doc["error"], str) \
            or "\n" in doc["error"] or not doc["error"].strip():
        raise Finding("error of another shape", f"HTTP {status}: {raw[:300]!r}")


# infer-args: the bundle's infer.py with argument vectors and --input files

def _keys(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def bundle() -> Path:
    """`edgepick export` of the swept run, signed when model-signing is installed, once per process; and the files the
    argument vectors name (keys, an empty file, a folder, a text file, a bare .npy)."""
    import subprocess
    import sys

    if "bundle" in _STATE:
        return _STATE["bundle"]
    run_id = swept_run()
    files = WORK / "files"
    files.mkdir(exist_ok=True)
    private, public = _keys(files, "key")
    _keys(files, "other")
    sign = []
    try:
        import model_signing  # noqa: F401

        sign = ["--sign-key", str(private)]
    except ImportError:
        pass
    folder = WORK / "bundle"
    res = subprocess.run([sys.executable, "-m", "edgepick.cli.main", "export", run_id, "-o", str(folder), *sign],
                         capture_output=True, text=True, env=_env(), cwd=WORK, timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"the seed export failed: {res.stderr[-2000:]}")
    (files / "empty.npz").write_bytes(b"")
    (files / "text.npz").write_text("input = [1, 2, 3]\n")
    (files / "folder.npz").mkdir(exist_ok=True)
    np.save(files / "bare.npy", np.zeros((1, 1, 8, 8), np.float32))
    (WORK / "cwd").mkdir(exist_ok=True)
    _STATE["bundle"], _STATE["signed"], _STATE["listing"] = folder, bool(sign), _listing(folder)
    _STATE["files"] = set(_listing(files))
    return folder


# placeholders in an argument vector, replaced by real paths when it runs
PLACES = {"@case": "cwd/case.npz", "@example": "bundle/example_input.npz", "@pub": "files/key.pub.pem",
          "@otherpub": "files/other.pub.pem", "@private": "files/key.pem", "@empty": "files/empty.npz",
          "@text": "files/text.npz", "@folder": "files/folder.npz", "@bare": "files/bare.npy",
          "@missing": "files/missing.npz", "@manifest": "bundle/manifest.json", "@model": "bundle/tiny.onnx",
          "@bundle": "bundle"}


def _garbage(max_size: int = 12):
    """Text an argument may hold (no NUL and no lone surrogate: neither can be in an argv), never a path with '/'
    (what the run writes stays in its scratch folder) and never an integer over 50 (--repeat 10**9 runs for hours,
    as asked: that is no hang)."""
    def small(text: str) -> bool:
        try:
            return int(text) <= 50
        except ValueError:
            return True
    alphabet = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0/")
    return st.text(alphabet, max_size=max_size).filter(small)


REPEATS = st.one_of(st.sampled_from(["0", "1", "2", "-1", "-99999999999999999999", " 3", "+2", "1_0", "٣", "1.5",
                                     "1e3", "0x10", "", "nan", "--input"]), _garbage(6))
OUTPUTS = st.one_of(st.sampled_from(["out.npz", "out", "out.txt", ".npz", "", ".", "..", "-", "@folder", "@private",
                                     "no-such-dir/out.npz", "@bundle/out.npz"]), _garbage())
INPUTS = st.one_of(st.sampled_from(["@case", "@case", "@case", "@example", "@empty", "@text", "@folder", "@bare",
                                    "@missing", "@manifest", "@model", "", "-", "."]), _garbage())
KEYS = st.one_of(st.sampled_from(["@pub", "@pub", "@otherpub", "@private", "@empty", "@folder", "@missing", "@model",
                                  ""]), _garbage())


@st.composite
def infer_argvs(draw) -> list[str]:
    """infer.py's own flags (whole, abbreviated, --flag=value, missing their value) and garbage, in any order."""
    flags = {"--input": INPUTS, "--output": OUTPUTS, "--repeat": REPEATS, "--public-key": KEYS}
    spellings = {"--input": ["--input", "--inp", "--i"], "--output": ["--output", "--out", "--o"],
                 "--repeat": ["--repeat", "--rep"], "--public-key": ["--public-key", "--pub", "--public_key"]}
    argv = ["--input", "@case"] if draw(st.integers(0, 4)) else []  # mostly the drawn file (a later --input wins)
    for _ in range(draw(st.integers(0, 5))):
        what = draw(st.sampled_from([*flags, *flags, "garbage", "help"]))
        if what == "garbage":
            argv.append(draw(st.one_of(_garbage(), st.sampled_from(["-", "--", "-x", "--unknown", "--input=", "-h"]))))
        elif what == "help":
            argv.append(draw(st.sampled_from(["-h", "--help"])))
        else:
            flag, value = draw(st.sampled_from(spellings[what])), draw(flags[what])
            form = draw(st.sampled_from(["pair", "pair", "pair", "equals", "bare"]))
            argv += {"pair": [flag, value], "equals": [f"{flag}={value}"], "bare": [flag]}[form]
    return argv


def _npz(arrays: dict) -> bytes:
    """np.savez, but object arrays are stored as the pickles they are, and names may be anything."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, arr in arrays.items():
            with z.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, arr, allow_pickle=True)
    return buf.getvalue()


def _declared(shape: tuple, descr: str, data: bytes, name: str = "input") -> bytes:
    """An .npz whose one array's header declares `shape` over however many bytes follow."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        with z.open(f"{name}.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
            f.write(data)
    return buf.getvalue()


HUGE_SHAPES = st.sampled_from([(10**12,), (2**40, 1, 8, 8), (2**31, 2**31), (2**62, 4), (10**18, 10**18),
                               (0, 10**18), (2**20, 1, 8, 8), (1, 1, 8, 10**9), (-1, 1, 8, 8), (1, 1, 8, 8), (64,)])
ARRAY_NAMES = st.sampled_from(["input", "input", "input", "x", "logits", "arr_0", "", "Input", "input.npy", "ünï",
                               "a b", "../input"])


@st.composite
def npz_files(draw) -> bytes:
    """An --input file: odd arrays (object, strings, complex, other dtypes and shapes, empty, wrong names), a header
    that declares huge dimensions, a valid file's bytes edited, or arbitrary bytes."""
    from hypothesis.extra import numpy as hnp

    kind = draw(st.sampled_from(["arrays", "arrays", "arrays", "declared", "mutated", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=256))
    if kind == "mutated":
        return draw(mutated(_npz({"input": np.zeros((1, 1, 8, 8), np.float32)})))
    if kind == "declared":
        descr = draw(st.sampled_from(["<f4", "<f8", "|b1", "<i8", "|O", "<U3", "|V0", "<c8", "|u1"]))
        return _declared(draw(HUGE_SHAPES), descr, draw(st.binary(max_size=300)), draw(ARRAY_NAMES))
    dtypes = st.one_of(st.sampled_from([np.dtype(np.float32)] * 4), hnp.scalar_dtypes(), hnp.unicode_string_dtypes(),
                       hnp.byte_string_dtypes(), st.just(np.dtype(object)))
    shapes = st.one_of(st.sampled_from([(1, 1, 8, 8), (2, 1, 8, 8), (0, 1, 8, 8), (1, 1, 8, 9), (1, 8, 8), (1, 1, 8, 8, 1),
                                        ()]), hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4))

    def array(dt: np.dtype):
        elements = st.integers() if dt.kind == "O" else None  # object arrays hold Python ints (pickled)
        if dt.kind == "f" and draw(st.booleans()):  # huge, NaN and tiny values where a float is taken
            elements = st.floats(allow_nan=True, allow_infinity=True, width=min(64, dt.itemsize * 8))
        return hnp.arrays(dt, shapes, elements=elements)
    arrays = draw(st.dictionaries(ARRAY_NAMES, dtypes.flatmap(array), min_size=0, max_size=3))
    return _npz(arrays)


def _listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def run_infer(argv: list[str], timeout: float = INFER_TIMEOUT_S):
    """infer.py of the bundle with this argv (placeholders replaced), from a scratch folder: (exit code, stdout, stderr)."""
    import shutil
    import subprocess
    import sys

    folder = bundle()
    cwd = WORK / "cwd"
    args = []
    for a in argv:
        for place, rel in PLACES.items():
            a = a.replace(place, str(WORK / rel))
        args.append(a)
    try:
        proc = subprocess.run([sys.executable, str(folder / "infer.py"), "--repeat", "1", *args], capture_output=True,
                              env=_env(), cwd=cwd, timeout=timeout, preexec_fn=_die_with_parent)
    finally:  # what --output wrote goes: the next run starts from the same folders
        for p in cwd.iterdir():
            if p.name != "case.npz":
                shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        for p in folder.iterdir():  # --output may write .npz data beside infer.py (which infer.py allows)
            if p.name not in _STATE["listing"]:
                p.unlink()
        for p in (WORK / "files").iterdir():  # --output @private writes key.pem.npz beside it
            if p.name not in _STATE["files"]:
                p.unlink()
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def check_infer_args(npz: bytes, argv: list[str]) -> None:
    """Exit 0 (ran), 2 (the caller's mistake) or 3 (refused), each 2/3 with one 'infer.py:' line; never a traceback
    nor a hang. The file is the @case placeholder's, which most argument vectors name as --input."""
    import subprocess

    bundle()
    (WORK / "cwd" / "case.npz").write_bytes(npz)
    try:
        code, _, err = run_infer(argv, timeout=INFER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise Finding("hang", f"infer.py {argv} ran past {INFER_TIMEOUT_S:g} s") from None
    if "Traceback (most recent call last)" in err:
        lines = err.strip().split("\n")
        frames = [ln.strip() for ln in lines if ln.strip().startswith("File ")]
        frames = [f for f in frames if "infer.py" in f] or frames  # the place in infer.py, not deep in numpy
        where = frames[-1].split(", in ")[0].replace(str(WORK), "") if frames else "?"
        raise Finding(f"traceback: {lines[-1].split(':')[0]} at {where}", err[-1500:])
    if code not in (0, 2, 3):
        raise Finding(f"exit {code}", err[-1500:])
    # argparse echoes what it refuses, CR and LF included: the reason is a line of its own, not always the last
    if code in (2, 3) and not any(ln.startswith("infer.py: ") for ln in err.split("\n")):
        raise Finding(f"exit {code} without a one-line reason", err[-1500:])
