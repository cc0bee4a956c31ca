"""The Ray device launcher: measure a candidate on one device of a Ray cluster (`edgepick run ... --on NAME`).

Ray does the placement, transport and liveness; nothing here is a scheduler or a heartbeat of our own:
- a device is a Ray worker node holding the custom resource `edgepick-device:NAME` with quantity 1 (set by
  `edgepick device join`), so a task asking for 1 of it runs there, one measurement at a time per device;
- the artifact and the eval inputs travel through Ray's object store (`ray.put`), with their SHA-256 checked on
  arrival by the device (launch/device_agent.py) before the same worker code measures them there;
- liveness comes from Ray's state API (`ray.util.state.list_nodes`): a device whose node is dead while its task is
  pending or running gives a `device-lost` row at once, instead of a task waiting forever for a resource that left.
This module imports Ray; nothing imports it unless `--on` or the `cluster`/`device` commands are used.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tarfile
import time
from pathlib import Path

import ray

from edgepick.core import errors
from edgepick.launch.base import Caps
from edgepick.launch.device_agent import device_record

RESOURCE_PREFIX = "edgepick-device:"
NAME_LABEL = "edgepick-device"
NAMESPACE = "edgepick"
DEVICE_LOST = errors.DEVICE_LOST
POLL_S = 1.0  # how often a waiting launch asks Ray whether its device's node is still alive


def connect(address: str | None = None, node_ip: str | None = None, timeout_s: float | None = None) -> None:
    """Join the cluster as a driver: --cluster / RAY_ADDRESS / the address `edgepick cluster start` saved; through
    the node at `node_ip` when given (a device registering itself), else the head's when on loopback. An unreachable
    head is one line within the connect timeout (launch/reach.py), before Ray retries for minutes."""
    if ray.is_initialized():
        return
    from edgepick.launch.cluster_state import saved_address
    from edgepick.launch.reach import connect_timeout, require_reachable

    target = address or os.environ.get("RAY_ADDRESS") or saved_address()
    if not target:
        raise errors.UserError("no Ray cluster to measure on: start one with `edgepick cluster start`, or set "
                               "RAY_ADDRESS=HOST:PORT of a running head")
    timeout_s = connect_timeout(timeout_s)
    require_reachable(target, timeout_s)
    # a port that answers but is no Ray head: Ray's own GCS reconnect timeout bounds the wait (default 60 s)
    os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", str(max(1, math.ceil(timeout_s))))
    try:
        host = target.rsplit(":", 1)[0]
        # On one machine every node may have a loopback address: attach to the head's raylet (the one at the head's
        # address), not a device's, whose death would end this driver with it.
        pin = {"_node_ip_address": node_ip or host} if node_ip or host.startswith("127.") else {}
        ray.init(address=target, namespace=NAMESPACE, logging_level="ERROR", log_to_driver=False, **pin)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise errors.UserError(f"cannot reach the Ray head at {target}: {str(e).splitlines()[0][:200]}") from e


def nodes() -> list:
    """Every node Ray knows, alive or dead (NodeState records of ray.util.state)."""
    from ray.util.state import list_nodes

    return list_nodes(detail=True, limit=10_000, raise_on_missing_output=False)


def device_nodes() -> dict[str, list]:
    """{device name: its nodes, newest first}; a device that left and joined again has a dead and an alive node."""
    out: dict[str, list] = {}
    for node in nodes():
        for res in node.resources_total or {}:
            if res.startswith(RESOURCE_PREFIX):
                out.setdefault(res[len(RESOURCE_PREFIX):], []).append(node)
    for group in out.values():
        group.sort(key=lambda n: n.start_time_ms or 0, reverse=True)
    return out


def alive(name: str) -> bool:
    return any(n.state == "ALIVE" for n in device_nodes().get(name, []))


def resolve(spec: str) -> list[str]:
    """`--on dev-a,dev-b` or `--on class=pi5` (a label every matching device's node carries) -> device names."""
    known = device_nodes()
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    if len(wanted) == 1 and "=" in wanted[0]:
        key, value = wanted[0].split("=", 1)
        names = sorted(name for name, group in known.items() if (group[0].labels or {}).get(key) == value)
        if not names:
            raise errors.UserError(f"no device carries the label {key}={value}; `edgepick devices` lists them")
        return names
    unknown = [w for w in wanted if w not in known]
    if unknown:
        raise errors.UserError(f"no device named {', '.join(unknown)} has joined this cluster; `edgepick devices` lists "
                               "them (`edgepick device join HEAD --name NAME` on the device adds one)")
    return wanted


@ray.remote(num_cpus=0, max_retries=0)
def _measure_remote(job: dict, caps: dict, manifest: list[dict], work_key: str, *blobs: bytes) -> dict:
    from edgepick.launch import device_agent

    return device_agent.measure(job, caps, manifest, list(blobs), work_key)


@ray.remote(num_cpus=0, max_retries=0)
def _fingerprint_remote() -> dict:
    from edgepick.launch import device_agent

    return {"name": device_agent.device_name(), "fingerprint": device_agent.fingerprint()}


def probe(name: str, timeout_s: float = 60.0) -> dict | None:
    """The device's fingerprint now, from a zero-resource task pinned to its node (so a busy device answers too)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    live = [n for n in device_nodes().get(name, []) if n.state == "ALIVE"]
    if not live:
        return None
    strategy = NodeAffinitySchedulingStrategy(live[0].node_id, soft=False)
    ref = _fingerprint_remote.options(scheduling_strategy=strategy).remote()
    try:
        return ray.get(ref, timeout=timeout_s)["fingerprint"]
    except (ray.exceptions.RayError, TimeoutError):
        return None


def _pack(path: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(path, arcname=".")
    return buf.getvalue()


class RayDeviceLauncher:
    """Launches on device `name`; files already put into the object store are shipped again by reference only."""

    def __init__(self, name: str, fingerprint: dict | None = None):
        self.name = name
        self.device = device_record(name, fingerprint)
        self.lost: str | None = None  # why the device was lost; later launches fail at once with device-lost
        self._shipped: dict[tuple[str, float], tuple[dict, ray.ObjectRef]] = {}

    def _ship(self, path: str) -> tuple[dict, ray.ObjectRef]:
        p = Path(path)
        stamp = (str(p), p.stat().st_mtime)
        if stamp not in self._shipped:
            blob = _pack(p) if p.is_dir() else p.read_bytes()
            sha = hashlib.sha256(blob).hexdigest()  # what the device checks on arrival
            entry = {"path": str(p), "name": p.name, "sha256": sha, "dir": p.is_dir(), "bytes": len(blob)}
            self._shipped[stamp] = (entry, ray.put(blob))
        return self._shipped[stamp]

    def _files(self, job: dict) -> list[str]:
        art = job["artifact"]
        if art["format"] == "torch-factory" or not Path(art["path"]).exists():
            raise errors.CandidateFailure(errors.LOAD_ERROR, f"a {art['format']} artifact is Python code or a path on "
                                                             "the head, not a file that can travel to a device")
        return [art["path"], *(art.get("meta") or {}).get("extra_files", []), job["inputs"]]

    def launch(self, job: dict, out_dir: Path, caps: Caps) -> dict:
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("result.json", "outputs.npz"):
            (out_dir / stale).unlink(missing_ok=True)
        if self.lost:
            return self._lost_result(self.lost)
        try:
            shipped = [self._ship(f) for f in self._files(job)]
        except errors.CandidateFailure as e:
            return {"status": "failed", "reason_class": e.reason_class, "reason": e.message}
        manifest, refs = [dict(m) for m, _ in shipped], [r for _, r in shipped]
        group = hashlib.sha256("".join(m["sha256"] for m in manifest[:-1]).encode()).hexdigest()
        for entry in manifest[:-1]:  # the artifact's files (the last one is the inputs) land in one folder
            entry["group"] = group
        work_key = "/".join(out_dir.parts[-4:])  # run id/devices/NAME/candidate: unique per run
        ref = _measure_remote.options(resources={RESOURCE_PREFIX + self.name: 1}, name=f"edgepick:{self.name}:{work_key}"
                                      ).remote(job, caps.to_dict(), manifest, work_key, *refs)
        result = self._wait(ref, caps.timeout_s)
        return self._land(result, out_dir)

    def _wait(self, ref, timeout_s: float) -> dict:
        deadline = time.monotonic() + 3 * timeout_s + 120  # the device enforces the timeout; this is for a wedged node
        while time.monotonic() < deadline:
            ready, _ = ray.wait([ref], timeout=POLL_S)
            if ready:
                try:
                    return ray.get(ref)
                except ray.exceptions.RayError as e:
                    if isinstance(e, ray.exceptions.NodeDiedError) or _dies_soon(self.name):
                        return self._mark_lost(f"its node died during the measurement ({type(e).__name__})")
                    return {"status": "failed", "reason_class": errors.CRASH,
                            "reason": f"the Ray task on device {self.name} failed: {_first_line(e)}"}
            if not alive(self.name):
                _cancel(ref)
                return self._mark_lost("its node left the cluster before the measurement finished")
        _cancel(ref)
        return self._mark_lost(f"no answer within {3 * timeout_s + 120:.0f} s")

    def _mark_lost(self, why: str) -> dict:
        self.lost = why
        return self._lost_result(why)

    def _lost_result(self, why: str) -> dict:
        return {"status": "failed", "reason_class": DEVICE_LOST, "reason": f"device {self.name} was lost: {why}; "
                "run the same command again once it is back to measure the missing rows"}

    def _land(self, result: dict, out_dir: Path) -> dict:
        """Write what came back where the head's code expects it (outputs.npz for the equivalence check)."""
        import json

        outputs = result.pop("outputs_npz", None)
        if outputs is not None:
            (out_dir / "outputs.npz").write_bytes(outputs)
        (out_dir / "worker.log").write_text(result.pop("worker_log", "") or "")
        fingerprint = result.pop("device_fingerprint", None)
        if fingerprint is not None:
            self.device = {**device_record(self.name, fingerprint),
                           **{k: v for k, v in self.device.items() if k not in ("fingerprint", "latency_label")}}
        result["device"] = self.device
        (out_dir / "result.json").write_text(json.dumps(result, default=str))
        return result


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def _dies_soon(name: str, settle_s: float = 30.0) -> bool:
    """A task lost with its worker: was it the node? Ray's GCS marks a node dead after its health checks fail, which
    can come a few seconds after the task's own error."""
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        if not alive(name):
            return True
        time.sleep(POLL_S)
    return False


def _cancel(ref) -> None:
    try:
        ray.cancel(ref, force=True)
    except (ray.exceptions.RayError, ValueError):  # already finished, or its node is gone with it
        pass


@ray.remote(num_cpus=0)
class _Registry:
    """The fingerprint each device registered when it joined (a detached actor on the head: it outlives drivers)."""

    def __init__(self):
        self.devices: dict[str, dict] = {}

    def register(self, name: str, fingerprint: dict) -> None:
        self.devices[name] = {"fingerprint": fingerprint, "joined_at": time.time()}

    def all(self) -> dict:
        return self.devices


def _registry():
    return _Registry.options(name="edgepick-registry", lifetime="detached", get_if_exists=True,
                             resources={"node:__internal_head__": 0.001}).remote()


def register(name: str, fingerprint: dict) -> None:
    ray.get(_registry().register.remote(name, fingerprint), timeout=60)


def registered() -> dict:
    try:
        return ray.get(_registry().all.remote(), timeout=60)
    except (ray.exceptions.RayError, TimeoutError):
        return {}


def describe_devices() -> list[dict]:
    """`edgepick devices`: each device's state (Ray's node state), busy (its resource in use), last seen, labels,
    and fingerprint (the registered one; asked of the device when it never registered)."""
    from datetime import datetime, timezone

    reg, available = registered(), ray.available_resources()
    out = []
    for name, group in sorted(device_nodes().items()):
        node = group[0]
        alive = node.state == "ALIVE"
        seen_ms = time.time() * 1000 if alive else (node.end_time_ms or node.start_time_ms or 0)
        fp = (reg.get(name) or {}).get("fingerprint") or (probe(name, 120) if alive else None)
        if fp and name not in reg:  # a device that could not register itself (an emulated one): at first contact
            register(name, fp)
        out.append({"name": name, "state": node.state, "busy": alive and available.get(RESOURCE_PREFIX + name, 0) < 1,
                    "last_seen": datetime.fromtimestamp(seen_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
                    "node_id": node.node_id, "address": node.node_ip, "labels": node.labels and
                    {k: v for k, v in node.labels.items() if not k.startswith("ray.io/")} or {}, "fingerprint": fp})
    return out
