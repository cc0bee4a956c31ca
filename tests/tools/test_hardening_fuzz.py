"""Regression tests for what fuzz/ found, and a short smoke run of the harness (the long runs are `make fuzz`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import cli, one_line_error

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


@pytest.mark.parametrize("height", ["8:", "3\bheight=8", "\0", "abc", "0", "-4"])
def test_darknet_cfg_with_a_bad_net_dimension_is_one_line(home, height):
    # fuzz/ darknet target: int() of a non-number in [net] raised ValueError (a traceback in the CLI)
    (home.parent / "net.cfg").write_text(f"[net]\nbatch=1\nchannels=3\nheight={height}\nwidth=8\n", errors="surrogatepass")
    (home.parent / "net.weights").write_bytes(b"\0" * 64)
    one_line_error(cli("run", "net.cfg"), "[net] section")


def test_fuzz_harness_smoke(tmp_path):
    pytest.importorskip("hypothesis", reason="the fuzz harness needs edgepick[fuzz] (hypothesis)")
    import json

    out = tmp_path / "summary.json"
    targets = ("input-shape", "budget", "device-yaml", "npz-arrays")
    proc = subprocess.run([sys.executable, str(FUZZ / "run.py"), "--seconds", "2", "--jobs", "2", "--out", str(out),
                           *targets], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads(out.read_text())
    assert [t["target"] for t in summary["targets"]] == list(targets) and summary["jobs"] == 2
    for t in summary["targets"]:  # each target ran in its own process and tried at least one Hypothesis batch
        assert t["ended"] == "ok" and t["examples"] >= 100 and t["findings"] == 0 and t["seconds"] >= 2, t


def test_a_fuzzing_process_that_dies_is_a_finding_with_its_input(tmp_path, monkeypatch):
    """A parser that segfaults kills the target's process: the driver keeps the input it died on."""
    sys.path.insert(0, str(FUZZ))
    import run as fuzz_run

    monkeypatch.setattr(fuzz_run, "FINDINGS", tmp_path)
    (tmp_path / "onnx.current").write_bytes(b"the input that crashed it")
    proc = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    proc.wait(timeout=60)
    summary = fuzz_run._child_summary("onnx", proc, tmp_path / "none.json", 0.0)
    assert summary["findings"] == 1 and summary["ended"] == "killed by SIGSEGV"
    assert Path(summary["crash_input"]).read_bytes() == b"the input that crashed it"


def _npz_with_central_patch(offset: int, value: int, width: int = 2, compressed: bool = False) -> bytes:
    """A valid .npz whose central-directory entries have one field overwritten (what the fuzzer's mutations hit)."""
    import io

    import numpy as np

    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, x=np.zeros((4, 4), np.float32))
    data = bytearray(buf.getvalue())
    start = 0
    while (at := data.find(b"PK\x01\x02", start)) >= 0:
        data[at + offset:at + offset + width] = value.to_bytes(width, "little")
        start = at + 4
    return bytes(data)


@pytest.mark.parametrize("case,patch", [
    ("encrypted", dict(offset=8, value=1)),  # RuntimeError: File 'x.npy' is encrypted
    ("unknown-compression", dict(offset=10, value=99)),  # NotImplementedError: compression method not supported
    ("zip-version-12.7", dict(offset=6, value=127)),  # NotImplementedError: zip file version 12.7
])
def test_damaged_npz_archives_are_one_line(home, case, patch):
    # fuzz/ npz-bytes target: np.load raised these past the (BadZipFile, ValueError, OSError) the reader caught
    from edgepick.core.errors import UserError
    from edgepick.inputs.data import read_data_arg
    from edgepick.inputs.signature import Signature, TensorSpec

    path = home.parent / f"{case}.npz"
    path.write_bytes(_npz_with_central_patch(**patch))
    sig = Signature([TensorSpec("input", [None, 4], "float32", True)])
    with pytest.raises(UserError, match="not a readable .npz"):
        read_data_arg(str(path), sig, 512)


def test_damaged_npz_through_the_cli_is_one_line(home, tiny_onnx):
    (home.parent / "enc.npz").write_bytes(_npz_with_central_patch(offset=8, value=1))
    one_line_error(cli("run", str(tiny_onnx), "--runtimes", "onnxruntime", "--data", "enc.npz"), "not a readable .npz")


def _saved_program() -> bytes:
    import io

    import torch

    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.export.save(torch.export.export(torch.nn.Linear(4, 3).eval(), (torch.randn(1, 4),)), buf)
    return buf.getvalue()


def test_pt2_whose_zip64_locator_names_several_disks_is_one_line(home):
    # fuzz/ pt2 target (60 s run): zipfile.is_zipfile itself raised BadZipFile ("span multiple disks")
    data = bytearray(_saved_program())
    at = data.rfind(b"PK\x06\x07")  # the ZIP64 end-of-central-directory locator; +16: total number of disks
    assert at > 0
    data[at + 16:at + 20] = (3).to_bytes(4, "little")
    (home.parent / "disks.pt2").write_bytes(bytes(data))
    one_line_error(cli("run", "disks.pt2"), "not a torch.export program")
    np_path = home.parent / "disks.npz"  # the same damage in a --data archive
    np_path.write_bytes(bytes(data))
    from edgepick.core.errors import UserError
    from edgepick.inputs.data import read_data_arg
    from edgepick.inputs.signature import Signature, TensorSpec

    with pytest.raises(UserError, match="not a readable .npz"):
        read_data_arg(str(np_path), Signature([TensorSpec("input", [None, 4], "float32", True)]), 8)


def test_pt2_whose_call_graph_lost_its_signature_is_one_line(home):
    # fuzz/ pt2 target (60 s run): the program loaded, then program.module() raised AttributeError ('in_spec')
    data = _saved_program()
    assert data.count(b'"fqn": "", "signature"') == 1
    (home.parent / "nosig.pt2").write_bytes(data.replace(b'"fqn": "", "signature"', b'"fqn": "", "rignature"'))
    one_line_error(cli("run", "nosig.pt2"), "not a loadable torch.export program")


# --- the process targets (issue 22): a served model's request body, the exported bundle's infer.py ---------------

@pytest.fixture(scope="module")
def fuzz_targets(tmp_path_factory):
    """fuzz/targets.py working in a temporary folder: one sweep of a tiny ONNX model, served and exported on demand."""
    pytest.importorskip("hypothesis", reason="the fuzz harness needs edgepick[fuzz] (hypothesis)")
    pytest.importorskip("onnxruntime")
    for module in ("fastapi", "uvicorn", "prometheus_client"):
        pytest.importorskip(module, reason="the http-body target serves the model (edgepick[serve])")
    sys.path.insert(0, str(FUZZ))
    import targets

    targets.WORK = tmp_path_factory.mktemp("fuzz-targets")
    targets._STATE.clear()
    yield targets
    targets.stop_server()
    targets._STATE.clear()


def _few(strategies, check, n: int):
    """A short Hypothesis run of a target's own strategies and check (what fuzz/run.py repeats for 10 minutes)."""
    from hypothesis import HealthCheck, Phase, given, settings

    settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
             suppress_health_check=list(HealthCheck))(given(*strategies)(check))()


def _overflowing_row() -> list:
    """Finite float32 values whose convolution overflows in the tiny model: its outputs are NaN."""
    import numpy as np

    return (np.random.default_rng(0).choice([-1.0, 1.0], size=(1, 1, 8, 8)) * 3.4e38).tolist()


def test_http_body_target_passes_a_server_that_keeps_its_contract(fuzz_targets):
    import json

    t = fuzz_targets
    port = t.server()
    row = [[[[0.5] * 8] * 8]]
    for body in [json.dumps({"inputs": {"input": row}}).encode(), b"", b"not json", b"[" * 100_000 + b"]" * 100_000,
                 b'{"inputs": {"input": [[[[NaN, 1e999]]]]}}', json.dumps({"inputs": {"input": row}}).encode("utf-16"),
                 b'{"inputs": {"input": [[[[' + b"9" * 5000 + b"]]]]}}"]:
        t.check_http_body(body)  # raises Finding otherwise
    # fuzz/ http-body finding: finite inputs that overflow inside the model were a 200 with NaN (not JSON) in its body
    overflow = json.dumps({"inputs": {"input": _overflowing_row()}}).encode()
    status, _, raw = t._http(port, "POST", "/v1/infer", overflow)
    assert status == 422 and "NaN or Infinity" in json.loads(raw)["error"], raw
    t.check_http_body(overflow)
    _few([t.http_bodies()], t.check_http_body, 30)


def test_http_body_target_reports_what_breaks_the_contract(fuzz_targets, monkeypatch):
    """Against a stub server: a 5xx, a non-JSON or other-shaped error, a 200 with NaN, a hang are each a finding."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    t = fuzz_targets
    answer = {}

    class Stub(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            if answer.get("sleep"):
                time.sleep(answer["sleep"])
            self.send_response(answer["status"])
            self.send_header("content-type", answer.get("type", "application/json"))
            self.end_headers()
            try:
                self.wfile.write(answer["body"])
            except OSError:  # the hang case: the client gave up first
                pass

        def log_message(self, *args):
            pass

    stub = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    monkeypatch.setattr(t, "server", lambda: stub.server_address[1])
    monkeypatch.setattr(t, "stop_server", lambda: None)
    monkeypatch.setattr(t, "HTTP_TIMEOUT_S", 0.5)
    try:
        for status, body, kind, key in [
            (500, b'{"error": "internal error: KeyError"}', "application/json", "HTTP 500"),
            (400, b"Invalid HTTP request received.", "text/plain", "body not JSON"),
            (404, b'{"detail": "Not Found"}', "application/json", "error of another shape"),
            (422, b'{"error": "two\\nlines"}', "application/json", "error of another shape"),
            (200, b'{"outputs": [[NaN]], "rows": 1}', "application/json", "200 with NaN or Infinity"),
            (200, b'{"outputs": [[1.0]]}', "application/json", "200 of another shape"),
            (422, b'{"error": "x"}', "text/plain", "not application/json"),
        ]:
            answer.update(status=status, body=body, type=kind)
            with pytest.raises(AssertionError) as found:
                t.check_http_body(b"{}")
            assert found.value.fuzz_key == key, (status, body, str(found.value))
        answer.update(status=200, body=b'{"outputs": [[1.0]], "rows": 1}', sleep=2)
        with pytest.raises(AssertionError) as found:
            t.check_http_body(b"{}")
        assert found.value.fuzz_key == "hang"
    finally:
        stub.shutdown()


def test_serve_refuses_outputs_that_are_not_finite():
    import numpy as np

    from edgepick.serve.model import BadRequest, check_outputs

    check_outputs([np.zeros((2, 3), np.float32), np.array([1, 2], np.int64)])
    for bad in (np.float32("nan"), np.float32("inf"), -np.float64("inf")):
        with pytest.raises(BadRequest) as refused:
            check_outputs([np.ones(3, np.float32), np.array([[0.0, bad]])])
        assert refused.value.status == 422 and "output 1" in refused.value.message


def test_infer_args_target_passes_a_bundle_that_keeps_its_contract(fuzz_targets):
    import numpy as np

    t = fuzz_targets
    t.bundle()
    good = t._npz({"input": np.zeros((1, 1, 8, 8), np.float32)})
    for npz, argv in [(good, []), (good, ["--input", "@case", "--output", "out"]), (good, ["--input"]),
                      (good, ["--repeat", "x"]), (good, ["--input", "@case", "--public-key", "@otherpub"]),
                      (t._npz({"input": np.array([1, None], object)}), ["--input", "@case"]),
                      (t._npz({"x": np.zeros((1, 1, 8, 8), np.float32)}), ["--input", "@case"]),
                      (t._npz({"input": np.zeros((1, 1, 8, 8), np.float64)}), ["--input", "@case"])]:
        t.check_infer_args(npz, argv)  # raises Finding otherwise
    # fuzz/ infer-args findings: a header declaring a huge array (MemoryError) and damaged archives (RuntimeError,
    # NotImplementedError) were tracebacks; now each is exit 2 with one line
    for npz, words in [(t._declared((10**12,), "<f4", b"\0" * 64), "too large to load"),
                       (_npz_with_central_patch(offset=8, value=1), "RuntimeError"),
                       (_npz_with_central_patch(offset=10, value=99), "NotImplementedError"),
                       (_npz_with_central_patch(offset=6, value=127), "NotImplementedError")]:
        (t.WORK / "cwd" / "case.npz").write_bytes(npz)
        code, _, err = t.run_infer(["--input", "@case"])
        assert code == 2 and "Traceback" not in err and words in err, err
        assert [ln for ln in err.splitlines() if ln.strip()] == [err.strip()] and err.startswith("infer.py: error:"), err
    _few([t.npz_files(), t.infer_argvs()], t.check_infer_args, 6)


@pytest.mark.parametrize("script, key", [
    ("raise ValueError('boom')", "traceback: ValueError at"),
    ("import sys; sys.exit(5)", "exit 5"),
    ("import sys; sys.exit(2)", "exit 2 without a one-line reason"),
    ("import time; time.sleep(30)", "hang"),
])
def test_infer_args_target_reports_tracebacks_exits_and_hangs(fuzz_targets, monkeypatch, tmp_path, script, key):
    t = fuzz_targets
    t.bundle()  # the scratch folders; then a stand-in infer.py that breaks the contract
    (tmp_path / "infer.py").write_text(script + "\n")
    monkeypatch.setitem(t._STATE, "bundle", tmp_path)
    monkeypatch.setitem(t._STATE, "listing", {"infer.py"})
    monkeypatch.setattr(t, "INFER_TIMEOUT_S", 2.0)
    with pytest.raises(AssertionError) as found:
        t.check_infer_args(b"", [])
    assert found.value.fuzz_key.startswith(key), str(found.value)


def test_the_driver_groups_process_findings_by_kind():
    sys.path.insert(0, str(FUZZ))
    import run as fuzz_run
    import targets

    assert {"http-body", "infer-args"} <= set(fuzz_run.NAMES)
    assert fuzz_run._key(targets.Finding("HTTP 500", "details vary")) == "HTTP 500"
    assert fuzz_run._key(ValueError("x")) == "ValueError at outside edgepick"
