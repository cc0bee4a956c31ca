"""A real Ray cluster on loopback for the fleet tests: a head and device nodes, each its own `ray start --block`.

Every node runs in its own session (process group), so the teardown kills exactly what this helper started:
each node's process group, then whatever the node's raylet left (found by its `edgepick-device:NAME` resource).
Addresses are 127.0.0.2 (the head) and 127.0.0.3+ (devices), all loopback: Ray replaces 127.0.0.1 by the
machine's network address.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

IP = "127.0.0.2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, tmp: Path, env: dict | None = None):
        self.tmp, self.port, self.dashboard = tmp, free_port(), free_port()
        # Ray's sockets live under its temp dir, and an AF_UNIX path has at most 107 bytes: a short one under /tmp
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="epray-", dir="/tmp"))
        self.address = f"{IP}:{self.port}"
        self.nodes: dict[str, subprocess.Popen] = {}
        # a 2-core machine shared with other work starts nodes slowly: give a raylet time to register
        self.env = dict(os.environ, RAY_ADDRESS=self.address, RAY_raylet_start_wait_time_s="120", **(env or {}))
        self.env.pop("EDGEPICK_DEVICE_NAME", None)

    def _ray(self, name: str, args: list[str], env: dict, ip: str = IP) -> subprocess.Popen:
        log = open(self.tmp / f"ray-{name}.log", "wb")
        cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--block", "--disable-usage-stats",
               "--node-ip-address", ip, "--object-store-memory", str(80 * 2**20), *args]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                cwd=self.tmp)
        self.nodes[name] = proc
        return proc

    def start_head(self, device: str | None = None) -> None:
        """The head; with `device`, the head is also that device (one node: the smallest real fleet)."""
        args = ["--head", "--port", str(self.port), "--num-cpus", "1" if device else "0", "--dashboard-host", "127.0.0.1",
                "--dashboard-port", str(self.dashboard), "--temp-dir", str(self.ray_tmp)]
        env = self.env
        if device:
            args += ["--resources", json.dumps({f"edgepick-device:{device}": 1}), "--labels", f"edgepick-device={device}"]
            env = dict(self.env, EDGEPICK_DEVICE_NAME=device, EDGEPICK_DEVICE_HOME=str(self.tmp / "devices"))
        self._ray("head", args, env)

    def add_device(self, name: str, cores: list[int], memory: int | None, extra_env: dict | None = None, ip: str = "127.0.0.3"
                   ) -> None:
        """A device node on its own loopback address (a driver on the head attaches to the head's raylet only)."""
        env = dict(self.env, EDGEPICK_DEVICE_NAME=name, EDGEPICK_DEVICE_CORES=",".join(map(str, cores)),
                   EDGEPICK_DEVICE_HOME=str(self.tmp / "devices"), **(extra_env or {}))
        args = ["--address", self.address, "--num-cpus", str(len(cores)), "--resources",
                json.dumps({f"edgepick-device:{name}": 1}), "--labels", f"edgepick-device={name},class=test"]
        if memory:  # the device's memory: Ray's --memory, and the cap every worker there runs under
            env["EDGEPICK_DEVICE_MEMORY"] = str(memory)
            args += ["--memory", str(memory)]
        self._ray(name, args, env, ip)

    def wait_alive(self, names: list[str], timeout: float = 120) -> None:
        code = ("import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR', log_to_driver=False); "
                "print(','.join(k.split(':',1)[1] for k in ray.cluster_resources() if k.startswith('edgepick-device:')))")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.nodes.items():
                assert proc.poll() is None, f"ray node {name} exited: {(self.tmp / f'ray-{name}.log').read_text()[-2000:]}"
            got = subprocess.run([sys.executable, "-c", code, self.address], capture_output=True, text=True,
                                 env=self.env, timeout=120)
            if got.returncode == 0 and set(names) <= set(got.stdout.strip().split(",")):
                return
            time.sleep(1)
        raise AssertionError(f"devices {names} did not join within {timeout} s")

    def raylet_of(self, name: str) -> psutil.Process:
        from edgepick.launch.node_procs import device_raylets

        found = device_raylets(name)
        assert found, f"no raylet for {name}"
        return found[0]

    def kill_device(self, name: str) -> None:
        """SIGKILL the device's raylet (the node dies as a machine would), then clean up what it leaves behind."""
        raylet = self.raylet_of(name)
        children = raylet.children(recursive=True)
        raylet.send_signal(signal.SIGKILL)
        self._reap(name, children)

    def _reap(self, name: str, extra: list | None = None) -> None:
        proc = self.nodes.pop(name, None)
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
        for p in extra or []:
            try:
                p.kill()
            except psutil.Error:
                pass

    def stop(self) -> None:
        from edgepick.launch.node_procs import device_raylets, stop_tree

        for name in [n for n in self.nodes if n != "head"]:
            for raylet in device_raylets(name):
                stop_tree(raylet, timeout_s=5)
            self._reap(name)
        if "head" in self.nodes:
            head = psutil.Process(self.nodes["head"].pid)
            leftovers = head.children(recursive=True)
            self._reap("head", leftovers)
        # processes a node daemonized out of its session (e.g. log monitors) still carry this cluster's temp dir
        marker = str(self.ray_tmp)
        for p in psutil.process_iter(["cmdline"]):
            try:
                if marker in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid():
                    p.kill()
            except psutil.Error:
                pass
        shutil.rmtree(self.ray_tmp, ignore_errors=True)
