"""CPU frequency and thermal zones, where Linux exposes them (sysfs), for sustained runs.

On a phone or a board these show throttling; VMs and containers usually expose neither, and then a sustained run
says so instead of printing nothing.
"""

from __future__ import annotations

from pathlib import Path

CPU_ROOT = Path("/sys/devices/system/cpu")
THERMAL_ROOT = Path("/sys/class/thermal")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_freq_mhz(cores: list[int]) -> dict[int, float] | None:
    """Current frequency of each core (scaling_cur_freq, kHz), or None where cpufreq is not exposed."""
    out = {}
    for core in cores:
        raw = _read(CPU_ROOT / f"cpu{core}" / "cpufreq" / "scaling_cur_freq")
        if raw and raw.isdigit():
            out[core] = int(raw) / 1000
    return out or None


def thermal_c() -> dict[str, float] | None:
    """Temperature of every thermal zone (°C), by its type (x86_pkg_temp, cpu-thermal, ...), or None."""
    out = {}
    for zone in sorted(THERMAL_ROOT.glob("thermal_zone*")):
        kind, raw = _read(zone / "type") or zone.name, _read(zone / "temp")
        try:
            out[f"{kind}" if kind not in out else f"{kind}:{zone.name}"] = int(raw) / 1000
        except (TypeError, ValueError):
            continue
    return out or None


def availability(cores: list[int]) -> dict[str, str]:
    """Say what this machine exposes, so a run without readings says why."""
    freq = cpu_freq_mhz(cores)
    temps = thermal_c()
    return {
        "cpu_freq": "read from /sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq" if freq else
        "not exposed here (no /sys/devices/system/cpu/cpu*/cpufreq: common in VMs and containers)",
        "thermal": f"read from /sys/class/thermal ({', '.join(temps)})" if temps else
        "not exposed here (no readable /sys/class/thermal/thermal_zone*/temp)",
    }


def snapshot(cores: list[int]) -> dict:
    freq = cpu_freq_mhz(cores)
    return {"cpu_mhz": sum(freq.values()) / len(freq) if freq else None, "thermal_c": thermal_c()}
