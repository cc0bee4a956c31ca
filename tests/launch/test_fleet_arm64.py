"""An aarch64 device, emulated with qemu-user, joins a real Ray cluster and measures: an arm64 Debian root file system
(tests/arm64_rootfs.sh, run by `make test-arm64` as root) holds the venv a Raspberry Pi user makes
(`pip install 'edgepick[agent,onnxruntime,litert]'`, aarch64 wheels from PyPI). Inside it, `edgepick device join`
starts the device's Ray node and registers its fingerprint; the head's `edgepick run --on` measures onnxruntime and
LiteRT there (ARM kernels, translated by qemu), the rows agree with the head's reference, the fingerprint says the
device is emulated, and its latencies are labelled so and never picked. It runs twice, `--exhaustive` and with the
search (the default: each row probed in its worker on the device, raced against that device's bar), and prints how
long each took to the answer.

The emulated node gets the CPU first while it starts (its session's autogroup at nice -15): Ray's raylet gives its
agents 15 s to report their ports (fixed in Ray 2.60), and translated Python on a loaded 2-core host needs ~25 s for
that when it shares the CPU fairly with everything else running here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the fleet needs Ray: pip install 'edgepick[cluster]'")
pytest.importorskip("onnxruntime")

from tests.fleet_cluster import Cluster  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("EDGEPICK_ARM64_ROOT", "/var/tmp/edgepick-arm64-root"))
AGENT = "/opt/edgepick-agent/bin"
CHROOT = shutil.which("chroot", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or "chroot"


@pytest.fixture
def arm64_root():
    if os.geteuid() != 0:
        pytest.skip("the emulated device runs in a chroot: run `make test-arm64` as root")
    if not (ROOT / AGENT.lstrip("/") / "edgepick").exists() or not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        pytest.skip(f"no emulated arm64 root at {ROOT} (as root: `make test-arm64` builds it)")
    if not (ROOT / "proc/self").exists():
        subprocess.run(["mount", "--bind", "/proc", str(ROOT / "proc")], check=True)
    # this checkout's edgepick, as a wheel into the device's venv (its dependencies are there already)
    wheels = ROOT / "opt/wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(REPO)], check=True, timeout=300)
    wheel = next(wheels.glob("edgepick-*.whl")).name
    _in_root(f"{AGENT}/pip install -q --no-deps --force-reinstall /opt/wheels/{wheel}", timeout=600)
    return ROOT


def _in_root(command: str, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a shell command in the arm64 root (every binary there is aarch64: qemu-user runs it)."""
    return subprocess.run(_root_args(command, env), capture_output=True, text=True, timeout=timeout, check=True)


def _root_args(command: str, env: dict | None) -> list[str]:
    clean = {"PATH": f"{AGENT}:/usr/bin:/bin", "HOME": "/root", **(env or {})}
    return [CHROOT, str(ROOT), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in clean.items()), "/bin/sh", "-c", command]


def _join(address: str, env: dict) -> subprocess.Popen:
    """`edgepick device join` on the emulated device, in a session of its own that its Ray node keeps."""
    return subprocess.Popen(_root_args(f"edgepick device join {address} --name arm64 --label class=arm64", env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=_cpu_first)


def _cpu_first() -> None:
    """In the child, after setsid: this session (the device's whole Ray node) is scheduled before the host's others."""
    Path("/proc/self/autogroup").write_text("-15")
    os.nice(-15)


@pytest.mark.slow
def test_emulated_aarch64_device_joins_measures_and_is_never_picked(tmp_path, tiny_onnx, arm64_root):
    pythonpath = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p)
    c = Cluster(tmp_path, {"PYTHONPATH": pythonpath})
    join = None
    try:
        c.start_head()
        c.wait_alive([])
        device_env = {"EDGEPICK_DEVICE_HOME": "/tmp/edgepick-device", "EDGEPICK_CLUSTER_STATE": "/tmp/edgepick-cluster",
                      "RAY_raylet_start_wait_time_s": "300"}
        join = _join(c.address, device_env)
        out, _ = join.communicate(timeout=900)
        assert join.returncode == 0, out[-3000:]
        assert "device arm64 joined" in out and "emulated aarch64" in out, out

        env = dict(c.env, EDGEPICK_HOME=str(tmp_path / "h"))
        listed = subprocess.run([sys.executable, "-m", "edgepick.cli.main", "devices", "--json"], capture_output=True,
                                text=True, env=env, timeout=300)
        device = {d["name"]: d for d in json.loads(listed.stdout)}["arm64"]
        assert device["state"] == "ALIVE" and device["fingerprint"]["emulated"] == "qemu-user", device

        took = {}
        for mode in ("exhaustive", "search"):  # the same run as before the search, and with it (the default)
            args = [sys.executable, "-m", "edgepick.cli.main", "run", str(tiny_onnx), "--runtimes", "onnxruntime,litert",
                    "--threads", "1", "--precision", "fp32", "--on", "arm64", "--json", "--no-noise-retry",
                    *(["--exhaustive"] if mode == "exhaustive" else [])]
            started = time.monotonic()
            done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800)
            took[mode] = round(time.monotonic() - started, 1)
            assert done.returncode == 0, done.stderr[-3000:]
            doc = json.loads(done.stdout)
            _check_rows(doc, searched=mode == "search")
        print(json.dumps({"cross_device": doc["cross_device"], "fingerprint": doc["devices"]["arm64"]["fingerprint"],
                          "seconds_to_the_answer": took}))
    finally:
        if join is not None:  # the device's node runs in the session `device join` started: end exactly that one
            subprocess.run(_root_args("edgepick device leave --name arm64", None), capture_output=True, timeout=300)
            _kill_session(join.pid)
        c.stop()


def _check_rows(doc: dict, searched: bool) -> None:
    """`searched`: the device raced its rows (each probed in its worker there; a clearly slower one pruned)."""
    rows = {r["runtime"]: r for r in doc["candidates"]}
    for runtime in ("onnxruntime", "litert"):
        row = rows[runtime]
        assert row["status"] in (("ok", "pruned") if searched else ("ok",)), row
        assert (row.get("probe") is not None) == searched, row.get("probe")
        assert row["equivalence"]["cosine"] > 0.9999, row["equivalence"]
        assert row["latency_ms"]["p50"] > 0
        fp = row["device"]["fingerprint"]
        assert fp["arch"] == "aarch64" and fp["emulated"] == "qemu-user" and fp["cpu_model"] is None, fp
        assert fp["host_cpu_model"] and "asimd" in fp["isa_flags"] and "avx2" not in fp["isa_flags"], fp
        assert fp["runtimes"]["onnxruntime"] and fp["runtimes"]["litert"], fp["runtimes"]
        assert row["device"]["latency_label"].startswith("EMULATED (qemu-user)"), row["device"]
        assert "emulated" in row["not_picked_because"] or row["status"] == "pruned", row["not_picked_because"]
    assert doc["pick"] is None and doc["selection"]["pick"] is None and doc["selection"]["feasible"] == []
    assert doc["devices"]["arm64"]["pick"] is None and "emulated" in doc["devices"]["arm64"]["verdict"]
    assert doc["cross_device"]["emulated"] == ["arm64"]


def _kill_session(sid: int) -> None:
    import psutil

    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid:
                p.send_signal(signal.SIGKILL)
        except (psutil.Error, ProcessLookupError):
            pass
