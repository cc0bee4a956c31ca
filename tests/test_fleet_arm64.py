"""An aarch64 device, emulated with qemu-user: an arm64 Debian root file system (tests/arm64_rootfs.sh, run by
`make test-arm64` as root) whose venv holds the agent's aarch64 wheels from PyPI joins a real Ray cluster and measures
onnxruntime and LiteRT rows that agree with the reference. Its fingerprint says it is emulated, and it is never picked.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the fleet needs Ray: pip install 'edgepick[cluster]'")
pytest.importorskip("onnxruntime")

from tests.fleet_cluster import Cluster  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = Path(os.environ.get("EDGEPICK_ARM64_ROOT", "/var/tmp/edgepick-arm64-root"))


@pytest.fixture
def arm64_root():
    if not (ROOT / "opt/ep/bin/python").exists() or not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        pytest.skip(f"no emulated arm64 root at {ROOT} (as root: `make test-arm64` builds it)")
    shutil.rmtree(ROOT / "opt/edgepick", ignore_errors=True)
    shutil.copytree(SRC, ROOT / "opt/edgepick/src")  # this checkout's agent, run by the arm64 Python
    chroot = shutil.which("chroot", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or "chroot"
    theirs = subprocess.run([chroot, str(ROOT), "/opt/ep/bin/python", "-c", "import platform; print(platform.python_version())"],
                            capture_output=True, text=True, timeout=300).stdout.strip()
    if theirs != platform.python_version():  # Ray refuses a node whose Python differs from the head's, even in patch
        pytest.fail(f"the arm64 root's Python is {theirs}, the head's {platform.python_version()}: Ray needs the same "
                    "patch version on every node (run the head from the same Python release as the device)")
    return ROOT


def _join_emulated(c: Cluster, root: Path, name: str) -> subprocess.Popen:
    env = {"PATH": "/opt/ep/bin:/usr/bin:/bin", "HOME": "/root", "PYTHONPATH": "/opt/edgepick/src",
           "RAY_ADDRESS": c.address, "RAY_raylet_start_wait_time_s": "300", "EDGEPICK_DEVICE_NAME": name,
           "EDGEPICK_DEVICE_HOME": "/tmp/edgepick-device"}
    chroot = shutil.which("chroot", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin") or "chroot"
    cmd = [chroot, str(root), "/opt/ep/bin/python", "-m", "ray.scripts.scripts", "start", "--block",
           "--disable-usage-stats", "--address", c.address, "--node-ip-address", "127.0.0.9", "--num-cpus", "1",
           "--object-store-memory", str(80 * 2**20), "--resources", json.dumps({f"edgepick-device:{name}": 1}),
           "--labels", f"edgepick-device={name},class=arm64", "--temp-dir", "/tmp/epray-arm"]
    log = open(c.tmp / f"ray-{name}.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    c.nodes[name] = proc  # wait_alive watches it
    return proc


@pytest.mark.slow
def test_emulated_aarch64_device_measures_and_is_never_picked(tmp_path, tiny_onnx, arm64_root):
    pythonpath = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
    c = Cluster(tmp_path, {"PYTHONPATH": pythonpath})
    device = None
    try:
        c.start_head()
        c.wait_alive([])
        device = _join_emulated(c, arm64_root, "arm64")
        c.wait_alive(["arm64"], timeout=600)
        args = [sys.executable, "-m", "edgepick.cli", "run", str(tiny_onnx), "--runtimes", "onnxruntime,litert",
                "--threads", "1", "--precision", "fp32", "--on", "arm64", "--json", "--min-duration", "0.05",
                "--min-samples", "5", "--warmup", "2", "--no-noise-retry"]
        done = subprocess.run(args, capture_output=True, text=True, env=dict(c.env, EDGEPICK_HOME=str(tmp_path / "h")),
                              timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        doc = json.loads(done.stdout)
        rows = {r["runtime"]: r for r in doc["candidates"]}
        for runtime in ("onnxruntime", "litert"):
            row = rows[runtime]
            assert row["status"] == "ok", row
            assert row["equivalence"]["cosine"] > 0.9999, row["equivalence"]
            fp = row["device"]["fingerprint"]
            assert fp["arch"] == "aarch64" and fp["emulated"] == "qemu-user" and fp["cpu_model"] is None, fp
        assert doc["devices"]["arm64"]["pick"] is None and "emulated" in doc["devices"]["arm64"]["verdict"]
    finally:
        c.stop()  # the device's raylet tree and its `ray start` session go with the rest
        if device is not None:
            _kill_marked("/tmp/epray-arm")  # what the emulated node daemonized, by its own temp dir


def _kill_marked(marker: str) -> None:
    import psutil

    for p in psutil.process_iter(["cmdline"]):
        try:
            if marker in " ".join(p.info["cmdline"] or []):
                p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
