"""What runs on a device of the fleet, inside the Ray task: receive the files, check them, run the same worker.

No Ray here: launch/ray_device.py wraps these functions in Ray tasks. The device's identity comes from the
environment `edgepick device join` started the Ray node with (Ray's worker processes inherit it):
EDGEPICK_DEVICE_NAME, EDGEPICK_DEVICE_CORES (the CPU ids this device may use, e.g. "2,3": one host can offer a slice
of itself as a device) and EDGEPICK_DEVICE_MEMORY (bytes; every worker there runs under that memory cap).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
import time
from pathlib import Path

from edgepick.core import errors

NAME_ENV, CORES_ENV, MEMORY_ENV, HOME_ENV = ("EDGEPICK_DEVICE_NAME", "EDGEPICK_DEVICE_CORES", "EDGEPICK_DEVICE_MEMORY",
                                             "EDGEPICK_DEVICE_HOME")


def device_name() -> str | None:
    return os.environ.get(NAME_ENV)


def device_cores() -> list[int]:
    given = os.environ.get(CORES_ENV)
    if given:
        return [int(c) for c in given.split(",") if c.strip()]
    return sorted(os.sched_getaffinity(0))


def device_memory() -> int | None:
    given = os.environ.get(MEMORY_ENV)
    return int(given) if given else None


def device_home() -> Path:
    root = Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "edgepick" / "device") / (device_name() or "local")
    root.mkdir(parents=True, exist_ok=True)
    return root


def emulation() -> str | None:
    """'qemu-user' when this Python runs under user-mode emulation: the kernel's /proc/cpuinfo then describes the
    host's CPU while the interpreter's architecture is another one, so the CPU model and flags are the host's."""
    machine = platform.machine().lower()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace").lower()
    except OSError:
        return None
    x86_host = "vendor_id" in cpuinfo and ("genuineintel" in cpuinfo or "authenticamd" in cpuinfo)
    if x86_host and machine in ("aarch64", "arm64", "armv7l", "riscv64", "ppc64le", "s390x"):
        return "qemu-user"
    if "cpu implementer" in cpuinfo and machine in ("x86_64", "amd64", "i686"):  # an ARM host running x86 code
        return "qemu-user"
    return None


def fingerprint() -> dict:
    """The device's fingerprint: CPU, ISA flags, cores, RAM, OS, arch, Python, and each runtime's version (None:
    not installed here)."""
    from edgepick.core import fingerprint as fp
    from edgepick.core.registry import RUNTIMES

    cpu = _cpu_this_boot()
    emulated = emulation()
    if emulated:  # under qemu-user the CPU model and flags are the host's: say so instead of passing them off
        cpu.update(arch=platform.machine(), emulated=emulated, host_cpu_model=cpu.pop("cpu_model"), cpu_model=None,
                   host_isa_flags=cpu.pop("isa_flags", None), isa_flags=_hwcap_flags())
    runtimes = {}
    for name, rt in RUNTIMES.all().items():
        runtimes[name] = rt.version() if rt.unavailable_reason() is None else None
    return {**cpu, "os": platform.platform(), "python": platform.python_version(), "versions": fp.versions(),
            "runtimes": runtimes, "device_cores": device_cores(), "device_memory_mb": _mb(device_memory())}


# Linux's aarch64 AT_HWCAP / AT_HWCAP2 bits (arch/arm64/include/uapi/asm/hwcap.h), named as /proc/cpuinfo names them
_HWCAP = {0: "fp", 1: "asimd", 3: "aes", 4: "pmull", 5: "sha1", 6: "sha2", 7: "crc32", 8: "atomics", 9: "fphp",
          10: "asimdhp", 12: "asimdrdm", 20: "asimddp", 22: "sve", 23: "asimdfhm"}
_HWCAP2 = {1: "sve2", 13: "i8mm", 14: "bf16", 23: "sme"}


def _hwcap_flags() -> list[str] | None:
    """The ISA features the emulated aarch64 CPU offers the code running on it (what the runtimes' ARM kernels see):
    the auxiliary vector qemu-user gives the process, since /proc/cpuinfo describes the host."""
    if platform.machine().lower() not in ("aarch64", "arm64"):
        return None
    import ctypes

    getauxval = ctypes.CDLL(None).getauxval
    getauxval.restype = ctypes.c_ulong
    hwcap, hwcap2 = getauxval(16), getauxval(26)  # AT_HWCAP, AT_HWCAP2
    return sorted([name for bit, name in _HWCAP.items() if hwcap >> bit & 1]
                  + [name for bit, name in _HWCAP2.items() if hwcap2 >> bit & 1])


def device_record(name: str, fingerprint: dict | None) -> dict:
    """What every row measured on the device carries as "device"; an emulated device's latencies are labelled so."""
    record = {"name": name, "fingerprint": fingerprint}
    how = (fingerprint or {}).get("emulated")
    if how:
        record["latency_label"] = (f"EMULATED ({how}): {fingerprint.get('arch')} code translated on the host's CPU; "
                                   "the latency is not the real chip's and is never used for a pick")
    return record


def _cpu_this_boot() -> dict:
    """The CPU part of the fingerprint, read once per boot: py-cpuinfo takes seconds (it runs CPUID in a child
    process), and Ray starts fresh worker processes on a device. A CPU does not change while the machine is up."""
    from edgepick.core import fingerprint as fp

    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return dict(fp.cpu_info())
    cache = device_home() / f"cpu-{boot}.json"
    if cache.exists():
        try:
            return json.loads(cache.read_text())
        except ValueError:
            pass
    cpu = dict(fp.cpu_info())
    tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cpu))
    os.replace(tmp, cache)
    return cpu


def _mb(n: int | None) -> float | None:
    return round(n / 2**20, 1) if n else None


def _unpack(blob: bytes, target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        tar.extractall(target, filter="data")  # "data": no absolute paths, no links out of the target


def receive(manifest: list[dict], blobs: list[bytes]) -> dict[str, str]:
    """Write each shipped file under the device's cache, after checking its SHA-256; return {head path: local path}.
    A file that does not arrive intact raises: the measurement would not be of the artifact the head converted."""
    cache = device_home() / "files"
    local = {}
    for entry, blob in zip(manifest, blobs, strict=True):
        digest = hashlib.sha256(blob).hexdigest()
        if digest != entry["sha256"]:
            raise errors.CandidateFailure(errors.LOAD_ERROR, f"{entry['name']} arrived with SHA-256 {digest[:12]}, "
                                                             f"not {entry['sha256'][:12]}: the transfer corrupted it")
        # an artifact's files stay side by side (OpenVINO finds model.bin next to model.xml): one folder per group
        target = cache / entry.get("group", entry["sha256"]) / entry["name"]
        if not target.exists():
            tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            if entry.get("dir"):
                _unpack(blob, tmp)
            else:
                tmp.write_bytes(blob)
            os.replace(tmp, target)
        local[entry["path"]] = str(target)
    return local


def relocate(job: dict, local: dict[str, str]) -> dict:
    """The job with every head path replaced by its copy here, and the device's own cores."""
    art = dict(job["artifact"])
    art["path"] = local.get(art["path"], art["path"])
    meta = dict(art.get("meta") or {})
    if meta.get("extra_files"):
        meta["extra_files"] = [local.get(p, p) for p in meta["extra_files"]]
    art["meta"] = meta
    pool = device_cores()
    return dict(job, artifact=art, inputs=local[job["inputs"]], cores=pool[: max(1, int(job.get("threads", 1)))])


def device_caps(caps: dict) -> dict:
    """A device joined with --memory caps every worker there; a tighter cap asked for by the run still wins."""
    mem = device_memory()
    if mem and (not caps.get("memory_limit") or caps["memory_limit"] > mem):
        caps = dict(caps, memory_limit=mem)
    return caps


def measure(job: dict, caps: dict, manifest: list[dict], blobs: list[bytes], work_key: str) -> dict:
    """Measure one candidate here with the local launcher; the result carries the outputs and this device's load."""
    from edgepick.core.registry import RUNTIMES
    from edgepick.launch.base import Caps, LocalLauncher
    from edgepick.measure import noise

    name = device_name() or platform.node()
    base = {"device_fingerprint": fingerprint(), "device_name": name}
    missing = RUNTIMES.get(job["runtime"]).unavailable_reason()
    if missing:
        return {**base, "status": "failed", "reason_class": errors.NOT_INSTALLED,
                "reason": f"not installed on device {name}: {missing}"}
    try:
        local_job = relocate(job, receive(manifest, blobs))
    except errors.CandidateFailure as e:
        return {**base, "status": "failed", "reason_class": e.reason_class, "reason": e.message}
    work_dir = device_home() / "work" / work_key
    before = noise.machine_load()
    result = LocalLauncher().launch(local_job, work_dir, Caps(**device_caps(caps)))
    after = noise.machine_load()
    outputs = work_dir / "outputs.npz"
    result.update(base, load_before=before, load_after=after, measured_at_unix=time.time(),
                  outputs_npz=outputs.read_bytes() if result.get("status") == "ok" and outputs.exists() else None,
                  worker_log=_log_tail(work_dir / "worker.log"), device_job={"cores": local_job["cores"]})
    return result


def _log_tail(path: Path, limit: int = 8000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""


def fingerprint_changes(joined: dict | None, now: dict | None) -> list[str]:
    """What differs between the fingerprint a device joined with and the one it reports now (e.g. a runtime
    upgraded): each change as 'field: old -> new'."""
    if not joined or not now:
        return []
    changes = []
    for field in ("cpu_model", "arch", "isa_flags", "os", "python", "logical_cores", "device_cores", "device_memory_mb"):
        if joined.get(field) != now.get(field):
            changes.append(f"{field}: {joined.get(field)} -> {now.get(field)}")
    for group in ("runtimes", "versions"):
        old, new = joined.get(group) or {}, now.get(group) or {}
        changes += [f"{group}.{k}: {old.get(k)} -> {new.get(k)}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return changes
