"""The fleet's parts that need no cluster: the launcher interface, the device agent's arrival check and fingerprint,
the per-device pick. The real cluster runs in tests/launch/test_fleet.py."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from edgepick.core import errors
from edgepick.launch import base as launch
from edgepick.launch import device_agent
from edgepick.select.fleet import cross_device, pick_per_device


def test_without_on_the_local_launcher_runs_and_ray_is_never_imported(home, tiny_onnx):
    code = ("import sys, edgepick\n"
            "from edgepick.worker.latency import TimingPolicy\n"
            "from edgepick.launch import base\n"
            f"run = edgepick.pick({str(tiny_onnx)!r}, runtimes=['onnxruntime'], threads=1, "
            "timing=TimingPolicy(warmup_count=2, warmup_s=0.0, min_samples=5, min_duration_s=0.05))\n"
            "assert run.rows[0]['status'] == 'ok', run.rows[0]\n"
            "assert base.current() is base.LOCAL\n"
            "print('ray' in sys.modules, run.to_json()['candidates'][0]['device'])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "None"]


def test_using_sets_the_launcher_for_this_context_only():
    class Recording:
        device = {"name": "x", "fingerprint": None}

        def launch(self, job, out_dir, caps):
            return {"status": "ok", "caps": caps}

    other = Recording()
    with launch.using(other):
        assert launch.current() is other
    assert launch.current() is launch.LOCAL


def test_a_file_that_arrives_corrupted_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(device_agent.HOME_ENV, str(tmp_path))
    blob = b"model bytes"
    good = {"path": "/head/model.onnx", "name": "model.onnx", "sha256": hashlib.sha256(blob).hexdigest()}
    local = device_agent.receive([good], [blob])
    assert open(local["/head/model.onnx"], "rb").read() == blob
    with pytest.raises(errors.CandidateFailure, match="arrived with SHA-256"):
        device_agent.receive([dict(good, name="other.onnx")], [blob + b"!"])


def test_artifact_files_stay_side_by_side(tmp_path, monkeypatch):
    monkeypatch.setenv(device_agent.HOME_ENV, str(tmp_path))
    xml, bin_ = b"<net/>", b"\x00\x01"
    manifest = [{"path": f"/h/model.{ext}", "name": f"model.{ext}", "sha256": hashlib.sha256(b).hexdigest(), "group": "g1"}
                for ext, b in (("xml", xml), ("bin", bin_))]
    local = device_agent.receive(manifest, [xml, bin_])
    assert {p.rsplit("/", 1)[0] for p in local.values()} == {str(tmp_path / "local" / "files" / "g1")}


def test_device_identity_and_caps_come_from_the_join_environment(monkeypatch):
    monkeypatch.setenv(device_agent.CORES_ENV, "1")
    monkeypatch.setenv(device_agent.MEMORY_ENV, str(700 * 2**20))
    job = {"runtime": "onnxruntime", "threads": 2, "inputs": "/h/in.npz",
           "artifact": {"format": "onnx", "path": "/h/m.onnx", "meta": {"extra_files": []}}}
    moved = device_agent.relocate(job, {"/h/m.onnx": "/d/m.onnx", "/h/in.npz": "/d/in.npz"})
    assert moved["cores"] == [1] and moved["artifact"]["path"] == "/d/m.onnx" and moved["inputs"] == "/d/in.npz"
    assert device_agent.device_caps({"memory_limit": None})["memory_limit"] == 700 * 2**20
    assert device_agent.device_caps({"memory_limit": 100})["memory_limit"] == 100  # a tighter cap still wins


def test_fingerprint_lists_runtimes_and_changes_are_named():
    fp = device_agent.fingerprint()
    assert fp["runtimes"]["onnxruntime"] and fp["python"] and fp["arch"]
    assert fp.get("emulated") is None  # this test runs natively
    upgraded = dict(fp, runtimes=dict(fp["runtimes"], onnxruntime="0.0.1"))
    assert device_agent.fingerprint_changes(fp, upgraded) == [f"runtimes.onnxruntime: {fp['runtimes']['onnxruntime']} -> 0.0.1"]
    assert device_agent.fingerprint_changes(fp, dict(fp)) == []


def _row(key, device, p50, status="ok", emulated=None):
    fp = {"emulated": emulated} if emulated else {}
    return {"key": f"{key}@{device}", "runtime": key.split("/")[0], "precision": "fp32", "threads": 1, "batch": 1,
            "status": status, "reason_class": None if status == "ok" else "not-installed", "reason": None,
            "latency_ms": {"p50": p50, "p50_ci95": [p50 * 0.99, p50 * 1.01]} if status == "ok" else None,
            "device": {"name": device, "fingerprint": fp}}


def test_one_pick_per_device_and_emulated_devices_are_never_picked():
    rows = [_row("onnxruntime/fp32/t1/b1", "pi", 2.0), _row("litert/fp32/t1/b1", "pi", 1.0),
            _row("onnxruntime/fp32/t1/b1", "x86", 0.5), _row("litert/fp32/t1/b1", "x86", 0.9),
            _row("onnxruntime/fp32/t1/b1", "qemu", 0.1, emulated="qemu-user")]
    _, reasons, per_device = pick_per_device(rows)
    assert per_device["pi"]["pick"] == "litert/fp32/t1/b1@pi"
    assert per_device["x86"]["pick"] == "onnxruntime/fp32/t1/b1@x86"
    assert per_device["qemu"]["pick"] is None and "emulated" in reasons["onnxruntime/fp32/t1/b1@qemu"]
    table = cross_device(rows + [_row("mxnet/fp32/t1/b1", "pi", 0, status="failed")])
    assert table["devices"] == ["pi", "x86", "qemu"] and table["emulated"] == ["qemu"]
    mx = next(r for r in table["rows"] if r["candidate"] == "mxnet/fp32/t1/b1")
    assert mx["p50_ms"] == {"pi": None} and mx["status"] == {"pi": "not-installed"}


def test_emulation_is_detected_from_an_interpreter_that_is_not_the_hosts_cpu(monkeypatch):
    import platform
    from pathlib import Path

    cpuinfo = Path("/proc/cpuinfo").read_text().lower()
    assert device_agent.emulation() is None  # this test runs natively
    if "vendor_id" in cpuinfo:  # an x86 host: an aarch64 interpreter here would be qemu-user's
        monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    elif "cpu implementer" in cpuinfo:  # an ARM host: an x86-64 interpreter here would be
        monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    else:
        pytest.skip("a host CPU that is neither x86 nor ARM")
    assert device_agent.emulation() == "qemu-user"


def test_emulated_rows_are_labelled_and_stay_out_of_every_selection():
    from types import SimpleNamespace

    from rich.console import Console

    from edgepick.report.fleet import fleet_markdown, print_fleet
    from edgepick.select.explain import select_with

    emulated_fp = {"emulated": "qemu-user", "arch": "aarch64", "cpu_model": None}
    record = device_agent.device_record("qemu", emulated_fp)
    assert record["latency_label"].startswith("EMULATED (qemu-user)") and "never used for a pick" in record["latency_label"]
    assert "latency_label" not in device_agent.device_record("x86", {"arch": "x86_64"})
    rows = [_row("onnxruntime/fp32/t1/b1", "qemu", 0.1, emulated="qemu-user"),
            _row("litert/fp32/t1/b1", "qemu", 0.05, emulated="qemu-user"), _row("onnxruntime/fp32/t1/b1", "x86", 0.5)]
    picked = select_with(rows, {}, None).to_dict()  # the run's "selection": the faster emulated rows do not compete
    assert picked["pick"] == "onnxruntime/fp32/t1/b1@x86" and picked["feasible"] == ["onnxruntime/fp32/t1/b1@x86"]
    assert select_with(rows[:2], {}, None).picked is None
    from edgepick.select.decision import decide

    run = SimpleNamespace(rows=rows, context={"devices": {"qemu": {"pick": None, "verdict": "no pick: emulated",
                                                                    "fingerprint": emulated_fp}}},
                          decision=decide(rows, {}, None, fleet=True))  # the decision the sweep stores with the run
    console = Console(width=200, record=True)
    print_fleet(run, console)
    text = console.export_text()
    assert "qemu (emulated aarch64" in text and "emulated (latencies labelled, never picked): qemu" in text
    assert "qemu (emulated: not its real speed)" in fleet_markdown(run)
    from edgepick.report.rigor import row_lines

    assert row_lines(dict(rows[0], device=record))[0].startswith("EMULATED (qemu-user)")  # each row's detail says so
