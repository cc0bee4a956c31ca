"""`edgepick cluster start|stop`, `edgepick device join|leave`, `edgepick devices`: a device fleet on Ray.

Every node is started with Ray's own `ray start` (run as `python -m ray.scripts.scripts`, the same code as the `ray`
command). Ray has no authentication: anyone who reaches the head's port can run code on every node, so a cluster
belongs on a trusted LAN (or loopback). Ray treats 127.0.0.1 as "this machine" and advertises the machine's network
address instead, so a loopback cluster is started on 127.0.0.2 (also loopback) to keep its traffic on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zlib

import typer

from edgepick.core.errors import UserError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _ray(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError("Ray is not installed: pip install 'edgepick[cluster]'") from None
    try:
        return subprocess.run([sys.executable, "-m", "ray.scripts.scripts", *args], capture_output=True, text=True,
                              env=dict(os.environ, **(env or {})), timeout=300)
    except subprocess.TimeoutExpired:  # subprocess.run killed it: one line, not the traceback
        raise UserError(f"`ray {args[0]}` did not finish within 300 s; check the head's address and network") from None


def _node_ip(host: str) -> str:
    return "127.0.0.2" if host in LOOPBACK else host


def _check(proc: subprocess.CompletedProcess, what: str) -> None:
    if proc.returncode != 0:
        tail = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()][-3:]
        raise UserError(f"{what} failed: {' / '.join(tail)[:400]}")


def cluster_start(host: str = typer.Option("127.0.0.1", help="Address the head binds and advertises (a LAN IP to let "
                                           "devices join; 127.0.0.1 keeps the cluster on this machine)."),
                  port: int = typer.Option(6380, help="The head's port (Ray's GCS); devices join HOST:PORT."),
                  dashboard_port: int = typer.Option(8265, help="Ray's dashboard and state API, bound to 127.0.0.1.")) -> None:
    """Start the Ray head. It runs no measurement itself (0 CPUs): devices do."""
    from edgepick.launch import cluster_state

    ip = _node_ip(host)
    proc = _ray("start", "--head", "--node-ip-address", ip, "--port", str(port), "--num-cpus", "0",
                "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard_port), "--disable-usage-stats")
    _check(proc, "ray start --head")
    cluster_state.save("head", {"address": f"{ip}:{port}", "started": time.time()})
    print(f"head started at {ip}:{port}. On each device: edgepick device join {ip}:{port} --name NAME")
    print("Ray has no authentication: keep this port reachable only from your trusted LAN.")


def cluster_stop() -> None:
    """Stop the Ray head (`ray stop`: every Ray node this user runs on this machine)."""
    from edgepick.launch import cluster_state

    _check(_ray("stop"), "ray stop")
    cluster_state.forget("head")
    print("stopped")


def _parse_labels(labels: list[str]) -> dict[str, str]:
    out = {}
    for item in labels:
        if "=" not in item:
            raise UserError(f"bad --label '{item}': use key=value, e.g. --label class=pi5")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _parse_cores(cores: str | None) -> list[int] | None:
    if not cores:
        return None
    from edgepick.core.units import parse_int_list

    ids = parse_int_list(cores.replace(" ", ""), "--cores", minimum=0)
    usable = set(os.sched_getaffinity(0))
    if not set(ids) <= usable:
        raise UserError(f"--cores {cores}: this machine's usable CPU ids are {sorted(usable)}")
    return ids


def device_join(head: str = typer.Argument(..., help="The head's HOST:PORT (printed by `edgepick cluster start`)."),
                name: str = typer.Option(..., "--name", help="This device's name, e.g. pi5-kitchen."),
                label: list[str] = typer.Option([], "--label", help="key=value, e.g. class=pi5 (for --on class=pi5)."),
                cores: str | None = typer.Option(None, help="Offer only these CPU ids, e.g. 2,3 (a slice of this host)."),
                memory: str | None = typer.Option(None, help="Offer this much memory, e.g. 1GB: every worker runs under it."),
                connect_timeout: float | None = typer.Option(None, help="Seconds to reach the head before giving up "
                                                             "(default EDGEPICK_CONNECT_TIMEOUT or 5).")
                ) -> None:
    """Start a Ray worker node holding the resource edgepick-device:NAME (one measurement at a time) and register
    this device's fingerprint (CPU, ISA flags, cores, RAM, OS, arch, Python, runtimes with versions)."""
    from edgepick.core.units import parse_size
    from edgepick.launch import cluster_state

    if not name.replace("-", "").replace("_", "").isalnum():
        raise UserError(f"bad --name '{name}': use letters, digits, - and _")
    # Ray refuses a node whose Python differs from the head's even in the patch release (a Pi's Debian 12 has 3.11.2,
    # a workstation 3.11.x): Python keeps pickles and bytecode compatible within a minor release, and Ray's own
    # setting lets a node (and this command's driver) join on the minor version, with a warning in its log.
    os.environ.setdefault("RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL", "minor")
    labels = {"edgepick-device": name, **_parse_labels(label)}
    ids = _parse_cores(cores)
    mem = parse_size(memory) if memory else None
    env = {"EDGEPICK_DEVICE_NAME": name, **({"EDGEPICK_DEVICE_CORES": ",".join(map(str, ids))} if ids else {}),
           **({"EDGEPICK_DEVICE_MEMORY": str(mem)} if mem else {})}
    from edgepick.launch.reach import connect_timeout as timeout_of
    from edgepick.launch.reach import require_reachable

    timeout_s = timeout_of(connect_timeout)
    require_reachable(head, timeout_s)  # before `ray start`, which retried a closed port for minutes
    host = head.rsplit(":", 1)[0]
    args = ["start", "--address", head, "--num-cpus", str(len(ids) if ids else os.cpu_count()),
            "--resources", json.dumps({f"edgepick-device:{name}": 1}),
            "--labels", ",".join(f"{k}={v}" for k, v in labels.items()), "--disable-usage-stats"]
    own_ip = f"127.0.0.{10 + zlib.crc32(name.encode()) % 240}" if host.startswith("127.") else None
    if own_ip:  # a device on the head's machine: its own loopback address, apart from the head's
        args += ["--node-ip-address", own_ip]
    if mem:
        args += ["--memory", str(mem)]
    _check(_ray(*args, env=env), "ray start --address")
    cluster_state.save(f"device-{name}", {"head": head, "name": name, "labels": labels, "env": env})
    os.environ.update(env)  # this process describes the device as its Ray workers will
    from edgepick.launch.device_agent import emulation, fingerprint

    if emulation():
        # Ray's driver finds its node's raylet by the executable named in /proc/PID/cmdline, which under qemu-user is
        # the emulator's: no driver starts here, so the head registers the fingerprint when it first reaches the device
        print(f"device {name} joined {head}: {_describe(fingerprint())} (the head registers it at first contact)")
        return
    fingerprint = _register(head, name, own_ip, timeout_s)
    print(f"device {name} joined {head}: {_describe(fingerprint)}")


def _register(head: str, name: str, node_ip: str | None = None, timeout_s: float | None = None) -> dict | None:
    from edgepick.launch import ray_device

    ray_device.connect(head, node_ip, timeout_s)  # through this device's own node (an emulated one shares no memory with the head)
    fingerprint = ray_device.probe(name, timeout_s=300)  # a slow board's (or an emulated one's) first worker starts slowly
    if fingerprint:
        ray_device.register(name, fingerprint)
    return fingerprint


def _describe(fp: dict | None) -> str:
    if not fp:
        return "fingerprint not read yet (`edgepick devices` retries)"
    installed = [f"{k} {v}" for k, v in (fp.get("runtimes") or {}).items() if v]
    cpu = fp.get("cpu_model") or f"emulated {fp.get('arch')}"
    return (f"{cpu}, {fp.get('arch')}, {len(fp.get('device_cores') or []) or fp.get('usable_cores')} cores, "
            f"{fp.get('memory_gb')} GB; runtimes: {', '.join(installed) or 'none'}")


def device_leave(name: str = typer.Option(..., "--name", help="The device to stop on this machine.")) -> None:
    """Stop this device's Ray node (the other Ray nodes on this machine keep running)."""
    from edgepick.launch import cluster_state, node_procs

    stopped = node_procs.stop_device_node(name)
    cluster_state.forget(f"device-{name}")
    print(f"device {name}: stopped {stopped} process(es)" if stopped else f"device {name}: no node running here")


def devices_cmd(as_json: bool = typer.Option(False, "--json", help="JSON."),
                cluster: str | None = typer.Option(None, help="The Ray head HOST:PORT (default RAY_ADDRESS or saved)."),
                connect_timeout: float | None = typer.Option(None, help="Seconds to reach the head before giving up "
                                                             "(default EDGEPICK_CONNECT_TIMEOUT or 5).")) -> None:
    """Every device of the cluster: alive or gone, busy, last seen, fingerprint and runtimes."""
    from edgepick.launch.cluster_state import saved_address
    from edgepick.launch.reach import connect_timeout as timeout_of
    from edgepick.launch.reach import require_reachable

    target = cluster or os.environ.get("RAY_ADDRESS") or saved_address()
    if target:  # before importing Ray (seconds): a closed port is one line at once
        require_reachable(target, timeout_of(connect_timeout))
    from edgepick.launch import ray_device

    ray_device.connect(cluster, timeout_s=connect_timeout)
    listing = ray_device.describe_devices()
    if as_json:
        print(json.dumps(listing, indent=2, default=str))
        return
    from rich.table import Table

    from edgepick.report.table import wide_console

    table = Table(header_style="bold")
    for col in ("device", "state", "busy", "last seen (UTC)", "labels", "CPU", "runtimes"):
        table.add_column(col)
    for d in listing:
        fp = d.get("fingerprint") or {}
        runtimes = ", ".join(f"{k} {v}" for k, v in (fp.get("runtimes") or {}).items() if v)
        labels = ",".join(f"{k}={v}" for k, v in d["labels"].items() if k != "edgepick-device")
        table.add_row(d["name"], d["state"], "yes" if d["busy"] else "no", d["last_seen"], labels, _describe(fp).split(";")[0],
                      runtimes)
    wide_console().print(table)


def register(app: typer.Typer) -> None:
    cluster_app = typer.Typer(no_args_is_help=True, help="A Ray head that devices join (trusted LAN only: Ray has no auth).")
    cluster_app.command("start")(cluster_start)
    cluster_app.command("stop")(cluster_stop)
    device_app = typer.Typer(no_args_is_help=True, help="Offer this machine (or a slice of it) as a measurement device.")
    device_app.command("join")(device_join)
    device_app.command("leave")(device_leave)
    app.add_typer(cluster_app, name="cluster")
    app.add_typer(device_app, name="device")
    app.command("devices")(devices_cmd)
