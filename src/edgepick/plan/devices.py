"""Device profiles: a target described as constraints this machine can enforce while it measures.

A profile names cores (CPU affinity), threads, a memory cap (enforced per worker: cgroup v2 `memory.max` when
writable, else an RSS watchdog; `rlimit-as` on request), a storage cap (checked against the artifact size), a
platform (OS-architecture; it becomes the request's `platform`, which the planner checks against the capability
matrix, edgepick.plan.capabilities, so runtimes that cannot ship there become 'platform' rows) and an optional latency scale
factor. The factor is a guess at how much slower the target is than this machine, so every latency derived from
it is labelled an ESTIMATE.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgepick.core.errors import UserError, first_line
from edgepick.core.units import parse_size

GiB = 2**30


@dataclass
class DeviceProfile:
    name: str
    cores: int
    threads: list[int]
    memory_cap_bytes: int | None = None
    storage_cap_bytes: int | None = None
    platform: str | None = None  # e.g. linux-arm64, android-arm64
    latency_scale: float | None = None  # target latency / this machine's latency: an estimate
    memory_mechanism: str = "auto"
    description: str = ""
    source: str = "built-in"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DeviceProfile:
        return cls(**d)


BUILTIN = {
    "pi-class": DeviceProfile(
        "pi-class", cores=2, threads=[1, 2], memory_cap_bytes=1 * GiB, platform="linux-arm64",
        description="a Raspberry-Pi-class single-board computer: 1-2 usable cores, 1 GB of memory for the model"),
    "phone-class": DeviceProfile(
        "phone-class", cores=2, threads=[2], memory_cap_bytes=2 * GiB, platform="android-arm64",
        description="a mid-range phone: 2 big cores for the app, 2 GB of memory, Android on arm64"),
}

_YAML_KEYS = {"name", "cores", "threads", "memory", "storage", "platform", "latency_scale", "memory_mechanism",
              "description"}
_MECHANISMS = ("auto", "cgroup-v2", "rss-watchdog", "rlimit-as")


def load_device(spec: str) -> DeviceProfile:
    """A built-in name (pi-class, phone-class) or a YAML file."""
    if spec in BUILTIN:
        return DeviceProfile.from_dict(BUILTIN[spec].to_dict())
    path = Path(spec)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise UserError(f"unknown --device '{spec}': a built-in profile ({', '.join(BUILTIN)}) or a .yaml file")
    if not path.exists():
        raise UserError(f"no such device profile file: {spec}")
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise UserError(f"{spec} is not valid YAML: {first_line(e)}") from e
    if not isinstance(data, dict):
        raise UserError(f"{spec}: a device profile is a YAML mapping (cores: 2, memory: 1GB, ...)")
    return _from_yaml(data, spec)


def _from_yaml(data: dict, spec: str) -> DeviceProfile:
    unknown = set(data) - _YAML_KEYS
    if unknown:
        raise UserError(f"{spec}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: {', '.join(sorted(_YAML_KEYS))}")
    cores = data.get("cores")
    if not isinstance(cores, int) or isinstance(cores, bool) or cores < 1:
        raise UserError(f"{spec}: 'cores' must be a positive integer (the cores the target gives the model)")
    threads = data.get("threads", cores)
    threads = [threads] if isinstance(threads, int) and not isinstance(threads, bool) else threads
    if not isinstance(threads, list) or not threads or any(not isinstance(t, int) or isinstance(t, bool) or t < 1
                                                              for t in threads):
        raise UserError(f"{spec}: 'threads' must be a positive integer or a list of them, e.g. [1, 2]")
    memory = _size(data.get("memory"), spec, "memory")
    storage = _size(data.get("storage"), spec, "storage")
    scale = data.get("latency_scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale <= 0):
        raise UserError(f"{spec}: 'latency_scale' must be a positive number (target latency / this machine's)")
    platform = data.get("platform")
    if platform is not None:
        from edgepick.plan.capabilities import parse_platform

        if not isinstance(platform, str):
            raise UserError(f"{spec}: 'platform' is os-arch, e.g. linux-arm64, android-arm64, linux-x86-64")
        parse_platform(platform)  # the capability matrix's own names; a typo is a UserError naming them
    mechanism = data.get("memory_mechanism", "auto")
    if mechanism not in _MECHANISMS:
        raise UserError(f"{spec}: 'memory_mechanism' must be one of {', '.join(_MECHANISMS)}")
    return DeviceProfile(str(data.get("name") or Path(spec).stem), cores, list(dict.fromkeys(threads)), memory,
                         storage, platform, float(scale) if scale is not None else None, mechanism,
                         str(data.get("description") or ""), source=str(Path(spec).absolute()))


def _size(value, spec: str, key: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserError(f"{spec}: '{key}' needs a unit, e.g. {key}: 1GB (a bare number is ambiguous)")
    return parse_size(value, f"{key} in {spec}")


def apply_to_request(device: DeviceProfile, request, threads_given: bool, memory_given: bool) -> None:
    """Map the profile onto the Request fields the launcher enforces. Explicit --threads/--memory-limit win."""
    usable = sorted(os.sched_getaffinity(0))
    if device.cores > len(usable):
        raise UserError(f"device '{device.name}' needs {device.cores} cores but this machine lets edgepick use "
                        f"{len(usable)}; measure on a bigger machine or lower 'cores'")
    if request.target.cores is None:
        request.target.cores = usable[: device.cores]
    elif len(request.target.cores) > device.cores:
        raise UserError(f"--cores gives {len(request.target.cores)} cores but device '{device.name}' has {device.cores}")
    if not threads_given:
        request.workload.threads = list(device.threads)
    if not memory_given and device.memory_cap_bytes:
        request.target.memory_limit = device.memory_cap_bytes
        request.target.memory_mechanism = device.memory_mechanism
    if device.platform and request.target.platform is None:
        request.target.platform = device.platform  # the planner's capability-matrix filter turns others into 'platform' rows
    request.target.device = device.to_dict()
