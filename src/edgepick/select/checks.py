"""Check one measured row against the budget clauses and the device's caps; each failure says what and by how much."""

from __future__ import annotations

import re
from dataclasses import dataclass

from edgepick.select.budget import Budget


@dataclass
class Violation:
    clause: str  # "p90<=15ms", or "device memory cap" / "device storage cap"
    message: str  # "p90 18.2 ms > 15 ms budget"
    value: float | None  # the row's figure in the clause's unit (None: could not be checked)
    limit: float
    higher_is_better: bool
    unit: str
    decimal: bool = False  # show MiB figures in the user's decimal units (300MB = 300e6 bytes)

    @property
    def excess(self) -> float:
        """How far off, relative to the limit (0.18 = 18 % too much); unknown figures count as far off."""
        if self.value is None:
            return 1e9
        gap = (self.limit - self.value) if self.higher_is_better else (self.value - self.limit)
        return gap / self.limit if self.limit > 0 else gap

    def need(self) -> str:
        if self.value is None:
            return f"{self.clause}: {self.message}"
        verb = "raise" if self.higher_is_better else "cut"
        name = re.split(r"<=|>=", self.clause)[0]
        label = _LABELS.get(name, name)
        return (f"{verb} {label} from {_fmt(self.value, self.unit, self.decimal)} to "
                f"{_fmt(self.limit, self.unit, self.decimal)} ({self.change * 100:.0f}% "
                f"{'more' if self.higher_is_better else 'less'})")

    @property
    def change(self) -> float:
        """The change the row needs, relative to where it is now (0.33 = a third less)."""
        return abs(self.limit - self.value) / abs(self.value) if self.value else 1.0


_LABELS = {"mem": "peak memory", "size": "artifact size", "acc_drop": "accuracy drop", "acc": "accuracy",
           "device memory cap": "peak memory", "device storage cap": "artifact size", "load": "load time",
           "miss": "deadline-miss rate"}


def human_mb(mb: float, decimal: bool = False) -> str:
    """MiB as a short text; decimal=True speaks the user's decimal units (300MB = 300e6 bytes)."""
    if decimal:
        n = mb * 2**20
        return f"{n / 1e9:.3g} GB" if n >= 1e9 else f"{n / 1e6:.4g} MB"
    return f"{mb / 1024:.3g} GB" if mb >= 1024 else f"{mb:.4g} MB"


def _limit_text(clause_text: str) -> str:
    return re.split(r"<=|>=", clause_text, maxsplit=1)[-1]


def _decimal(clause_text: str) -> bool:
    return "i" not in _limit_text(clause_text).lower()


def _fmt(value: float, unit: str, decimal: bool = False) -> str:
    if unit == "MiB":
        return human_mb(value, decimal)
    if unit == "ms":
        return f"{value:.3g} ms" if value < 10 else f"{value:.1f} ms"
    if unit == "%":
        return f"{value:.2f}%"
    if unit == "/s":
        return f"{value:.0f}/s"
    return f"{value:.3g} {unit}"


def latency_of(row: dict, metric: str, scale: float | None) -> tuple[float | None, str]:
    """(latency in ms, with the device scale applied), and how to say it: scaled figures are ESTIMATES."""
    measured = (row.get("latency_ms") or {}).get(metric)
    if measured is None:
        return None, f"{metric} not measured"
    if scale:
        est = measured * scale
        return est, f"{metric} {_fmt(est, 'ms')} (ESTIMATE: {_fmt(measured, 'ms')} here x {scale:g} device scale)"
    return measured, f"{metric} {_fmt(measured, 'ms')}"


# Budget clauses in megabytes: clause -> (row field, text when unmeasured, label of the measured value).
_MEGABYTE_CLAUSES = {"mem": ("peak_rss_mb", "peak memory not measured", "peak memory"),
                     "size": ("size_mb", "size unknown", "artifact")}


def check(row: dict, budget: Budget, device: dict | None, reference_accuracy: float | None) -> list[Violation]:
    scale = (device or {}).get("latency_scale")
    out: list[Violation] = []
    for c in budget.clauses:
        if c.metric in ("p50", "p90", "p99", "mean"):
            value, said = latency_of(row, c.metric, scale)
            if value is None or value > c.value:
                out.append(Violation(c.text, f"{said} > {c.value:g} ms budget", value, c.value, False, "ms"))
        elif c.metric in _MEGABYTE_CLAUSES:
            field, missing, label = _MEGABYTE_CLAUSES[c.metric]
            value = row.get(field)
            if value is None or value > c.value:
                dec = _decimal(c.text)
                said = missing if value is None else f"{label} {human_mb(value, dec)}"
                out.append(Violation(c.text, f"{said} > {_limit_text(c.text)} budget", value, c.value, False, "MiB", dec))
        elif c.metric == "acc_drop":
            value, said = _acc_drop(row, reference_accuracy)
            if value is None or value > c.value:
                out.append(Violation(c.text, f"{said} > {c.value:g}%" if value is not None else said,
                                     value, c.value, False, "%"))
        elif c.metric == "acc":
            acc = row.get("accuracy")
            value = acc * 100 if acc is not None else None
            if value is None or value < c.value:
                said = "accuracy unknown (no labelled eval data)" if value is None else f"accuracy {value:.2f}% < {c.value:g}%"
                out.append(Violation(c.text, said, value, c.value, True, "%"))
        elif c.metric == "throughput":
            value = row.get("throughput_per_s")
            if value is None or value < c.value:
                said = "throughput not measured" if value is None else f"throughput {value:.0f}/s < {c.value:g}/s budget"
                out.append(Violation(c.text, said, value, c.value, True, "/s"))
        elif c.metric == "load":
            value = row.get("load_s")
            if value is None or value > c.value:
                said = "load time not measured" if value is None else f"load {value:.2f} s > {c.value:g} s budget"
                out.append(Violation(c.text, said, value, c.value, False, "s"))
        elif c.metric == "miss":
            value, said = _miss_rate(row)
            if value is None or value > c.value:
                out.append(Violation(c.text, f"{said} > {c.value:g}% budget" if value is not None else said,
                                     value, c.value, False, "%"))
    out += _device_caps(row, device or {})
    return out


def _miss_rate(row: dict) -> tuple[float | None, str]:
    """The frame loop's deadline-miss rate in % (worker/frameloop.py), and how to say it."""
    rt = row.get("realtime") or {}
    if rt.get("error"):
        return None, f"deadline-miss rate unknown: {rt['error']}"
    if rt.get("miss_rate") is None:
        return None, "deadline-miss rate not measured (run with --fps or --deadline)"
    value = rt["miss_rate"] * 100
    return value, (f"deadline-miss rate {value:.1f}% at {rt['fps']:g} FPS ({rt['late']} late + {rt['dropped']} dropped "
                   f"of {rt['frames']} frames)")


def _acc_drop(row: dict, reference_accuracy: float | None) -> tuple[float | None, str]:
    acc = row.get("accuracy")
    if reference_accuracy is not None and acc is not None:
        drop = (reference_accuracy - acc) * 100
        return drop, f"acc drop {drop:.2f}%"
    agreement = (row.get("equivalence") or {}).get("top1_agreement")
    if agreement is not None:  # no labels: the reference's own top-1 answers stand in for them
        drop = (1 - agreement) * 100
        return drop, f"acc drop {drop:.2f}% (top-1 disagreement with the reference; no labelled data)"
    return None, "acc drop cannot be checked: no labelled eval data and the outputs are not class scores"


def _device_caps(row: dict, device: dict) -> list[Violation]:
    out = []
    cap = device.get("memory_cap_bytes")
    peak = row.get("peak_rss_mb")
    if cap and peak is not None and peak > cap / 2**20:
        dec = cap % 10**6 == 0  # "memory: 1GB" in a YAML profile is decimal; the built-in 1 GiB is binary
        out.append(Violation("device memory cap", f"peak memory {human_mb(peak, dec)} > {human_mb(cap / 2**20, dec)} cap "
                             f"(device {device.get('name')})", peak, cap / 2**20, False, "MiB", dec))
    storage = device.get("storage_cap_bytes")
    size = row.get("size_mb")
    if storage and size is not None and size > storage / 2**20:
        dec = storage % 10**6 == 0
        out.append(Violation("device storage cap", f"artifact {human_mb(size, dec)} > {human_mb(storage / 2**20, dec)} storage "
                             f"cap (device {device.get('name')})", size, storage / 2**20, False, "MiB", dec))
    return out
