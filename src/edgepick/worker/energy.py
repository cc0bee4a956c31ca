"""Energy per inference: measured from the machine's own counters where Linux exposes them, otherwise ESTIMATED.

Sources, first readable wins: RAPL package energy (/sys/class/powercap, x86 hosts); a board's hwmon energy counters
(/sys/class/hwmon/hwmon*/energy*_input, microjoules); a board's hwmon power rails (power*_input, microwatts, as INA
sensors on Jetson-class boards expose them), sampled every 50 ms through the steady state and integrated. Every result
carries `kind`: "measured" (those counters: they count the whole package or board, so other processes' work is
included) or "estimate" (the worker's own CPU time during the steady state x an assumed power per busy core). An
estimate is never shown without the word "estimate"; report/rigor.energy_text is the one place outputs get it from.

The per-core power assumption, 5 W per fully busy core, is a round figure between a laptop core (~3-4 W at 15 W TDP
over 4 cores) and a server core (~5-7 W at 200-300 W over 32-48 cores). Override it with EDGEPICK_WATTS_PER_CORE.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
HWMON = Path("/sys/class/hwmon")
POWER_SAMPLE_S = 0.05
DEFAULT_WATTS_PER_CORE = 5.0


def watts_per_core() -> float:
    try:
        return float(os.environ.get("EDGEPICK_WATTS_PER_CORE", DEFAULT_WATTS_PER_CORE))
    except ValueError:
        return DEFAULT_WATTS_PER_CORE


def rapl_packages(root: Path = POWERCAP) -> list[Path]:
    """Readable top-level RAPL package zones (intel-rapl:0, intel-rapl:1 ...; sub-zones like intel-rapl:0:0 excluded)."""
    if not root.is_dir():
        return []
    zones = []
    for zone in sorted(root.glob("intel-rapl:*")):
        if zone.name.count(":") != 1:
            continue
        try:
            int((zone / "energy_uj").read_text())
            zones.append(zone)
        except (OSError, ValueError):
            continue
    return zones


def hwmon_files(pattern: str, root: Path = HWMON) -> list[Path]:
    """Readable hwmon files matching `pattern` (energy*_input or power*_input) that hold an integer."""
    found = []
    for path in sorted(root.glob(f"hwmon*/{pattern}")) if root.is_dir() else ():
        try:
            int(path.read_text())
            found.append(path)
        except (OSError, ValueError):
            continue
    return found


def _sum_files(paths: list[Path]) -> int:
    return sum(int(p.read_text()) for p in paths)


class PowerSampler:
    """Integrates hwmon power rails (microwatts) over the steady state in a thread: a board without energy counters."""

    def __init__(self, files: list[Path]):
        import threading

        self.files, self.joules, self.samples = files, 0.0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last_t, last_w = time.perf_counter(), _sum_files(self.files) / 1e6
        while not self._stop.wait(POWER_SAMPLE_S):
            now, watts = time.perf_counter(), _sum_files(self.files) / 1e6
            self.joules += (now - last_t) * (watts + last_w) / 2  # trapezoid between two readings
            last_t, last_w, self.samples = now, watts, self.samples + 1

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.joules


def rapl_status(root: Path = POWERCAP) -> str:
    if not root.is_dir():
        return f"{root} does not exist (no RAPL powercap driver, or not exposed in this container/VM)"
    if not rapl_packages(root):
        return f"{root} has no readable intel-rapl:N/energy_uj (permission, or no RAPL zones)"
    return "readable"


def _read_uj(zone: Path) -> tuple[int, int]:
    energy = int((zone / "energy_uj").read_text())
    try:
        wrap = int((zone / "max_energy_range_uj").read_text())
    except (OSError, ValueError):
        wrap = 2**32
    return energy, wrap


@dataclass
class Probe:
    """Started just before the steady-state loop and stopped just after it, inside the worker."""

    root: Path = POWERCAP
    zones: list[Path] = field(default_factory=list)
    start_uj: list[tuple[int, int]] = field(default_factory=list)
    cpu0: float = 0.0
    wall0: float = 0.0
    board_energy: list[Path] = field(default_factory=list)
    board_start_uj: int = 0
    sampler: PowerSampler | None = None

    @classmethod
    def start(cls, root: Path = POWERCAP, hwmon: Path = HWMON) -> Probe:
        probe = cls(root=root, zones=rapl_packages(root))
        probe.start_uj = [_read_uj(z) for z in probe.zones]
        if not probe.zones:  # a board: its own energy counters, else its power rails sampled
            probe.board_energy = hwmon_files("energy*_input", hwmon)
            probe.board_start_uj = _sum_files(probe.board_energy) if probe.board_energy else 0
            power = [] if probe.board_energy else hwmon_files("power*_input", hwmon)
            probe.sampler = PowerSampler(power) if power else None
        probe.wall0 = time.perf_counter()
        probe.cpu0 = time.process_time()  # all threads of this process: the runtime's worker threads included
        return probe

    def stop(self, inferences: int, items_per_inference: int = 1) -> dict:
        cpu_s = time.process_time() - self.cpu0
        wall_s = time.perf_counter() - self.wall0
        n = max(1, inferences)
        out = {"cpu_s": cpu_s, "wall_s": wall_s, "inferences": inferences,
               "busy_cores": cpu_s / wall_s if wall_s > 0 else None}
        if self.zones:
            joules = 0.0
            for zone, (e0, wrap) in zip(self.zones, self.start_uj):
                e1, _ = _read_uj(zone)
                joules += ((e1 - e0) % wrap) / 1e6  # the counter wraps at max_energy_range_uj
            out.update(kind="measured", source="RAPL package energy (/sys/class/powercap, whole package: other "
                       "processes' work included)", joules=joules)
        elif self.board_energy:
            out.update(kind="measured", source="hwmon energy counters (/sys/class/hwmon, whole board)",
                       joules=(_sum_files(self.board_energy) - self.board_start_uj) / 1e6)
        elif self.sampler is not None:
            joules = self.sampler.stop()
            out.update(kind="measured", source=f"hwmon power rails (/sys/class/hwmon, whole board) sampled every "
                       f"{POWER_SAMPLE_S * 1e3:.0f} ms ({self.sampler.samples} samples)", joules=joules)
        else:
            w = watts_per_core()
            out.update(kind="estimate", source=f"estimate: worker CPU time x {w:g} W per busy core (assumed; set "
                       f"EDGEPICK_WATTS_PER_CORE); RAPL unavailable: {rapl_status(self.root)}; no hwmon energy or power",
                       joules=cpu_s * w, watts_per_core=w)
        out["mj_per_inference"] = 1e3 * out["joules"] / n
        out["mj_per_item"] = out["mj_per_inference"] / max(1, items_per_inference)
        return out
