"""Reduced-precision candidates (BF16, FP16): where they are offered, and how their rows are judged.

A BF16 or FP16 row is an explicit candidate, like an INT8 one: the runtime is asked to compute in that precision
(OpenVINO's inference precision hint, torch.autocast), and the row passes or fails on the accuracy drop of the task
metric, not on closeness to FP32. Whether the CPU computes the precision natively is read from its ISA flags (the
fingerprint's, or any set passed in, so the rule is testable on every CPU): without native support a runtime
emulates it (converts to FP32 and back), which is predicted slower, so such candidates are offered only when asked
for by name (--precision fp32,bf16). By default: FP32 plus every reduced precision the CPU has.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgepick.inputs.validate import only_known

FP32 = "fp32"
REDUCED = ("bf16", "fp16")
KNOWN = (FP32, *REDUCED)

# ISA flags (Linux /proc/cpuinfo names, as py-cpuinfo reports them) that mean the CPU computes the precision natively.
NATIVE_FLAGS = {
    "bf16": ("avx512_bf16", "amx_bf16", "bf16"),  # x86 AVX512_BF16 / AMX-BF16; ARMv8.6 BF16 ("bf16" on aarch64)
    "fp16": ("avx512_fp16", "amx_fp16", "fphp", "asimdhp"),  # x86 AVX512-FP16 / AMX-FP16; ARMv8.2 FP16 arithmetic
}


@dataclass
class Offer:
    precision: str
    offered: bool
    native: bool
    note: str  # shown in the row: why it is (not) offered, and the prediction when not native

    def to_dict(self) -> dict:
        return {"precision": self.precision, "offered": self.offered, "native": self.native, "note": self.note}


def parse_precisions(text: str | list[str] | None) -> list[str] | None:
    """--precision fp32,bf16 -> ["fp32", "bf16"]; None or "auto" -> None (FP32 plus what the CPU has natively)."""
    if text is None:
        return None
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if not items or items == ["auto"]:
        return None
    return only_known(items, KNOWN, "precision", "or auto (e.g. --precision fp32,bf16)")


def native(precision: str, isa_flags) -> bool:
    if precision == FP32:
        return True
    return any(flag in set(isa_flags) for flag in NATIVE_FLAGS.get(precision, ()))


def offer(precision: str, isa_flags, requested: list[str] | None) -> Offer:
    """Is `precision` a candidate on a CPU with these flags, given the --precision request (None: automatic)?"""
    if precision == FP32:
        return Offer(FP32, requested is None or FP32 in requested, True, "FP32, pinned on every runtime")
    has = native(precision, isa_flags)
    flags = "/".join(NATIVE_FLAGS[precision])
    if has:
        seen = ", ".join(f for f in NATIVE_FLAGS[precision] if f in set(isa_flags))
        return Offer(precision, requested is None or precision in requested, True,
                     f"{precision.upper()} native on this CPU ({seen})")
    note = (f"predicted slower here: this CPU has no native {precision.upper()} ({flags}); the runtime emulates it")
    return Offer(precision, requested is not None and precision in requested, False, note)


def offers(runtime_precisions, isa_flags, requested: list[str] | None) -> list[Offer]:
    """The offered precisions among a runtime's, in its order."""
    return [o for o in (offer(p, isa_flags, requested) for p in runtime_precisions) if o.offered]


def host_isa_flags() -> list[str]:
    from edgepick.core.fingerprint import cpu_info

    return list(cpu_info()["isa_flags"])


def outcomes(rows: list[dict]) -> list[dict]:
    """After the sweep: each measured BF16/FP16 row's p50 against its FP32 twin (same runtime, threads, batch), so
    the offer's prediction (native: faster; emulated: slower) is checked by the measurement. Returns the rows changed."""
    p50 = {(r["runtime"], r["threads"], r["batch"]): r["latency_ms"]["p50"] for r in rows
           if r.get("precision") == FP32 and not r.get("compression") and (r.get("latency_ms") or {}).get("p50")}
    changed = []
    for row in rows:
        support = row.get("precision_support")
        fp32 = p50.get((row["runtime"], row["threads"], row["batch"]))
        if not support or not fp32 or not (row.get("latency_ms") or {}).get("p50"):
            continue
        ratio = row["latency_ms"]["p50"] / fp32
        predicted_slower = not support["native"]
        held = (ratio > 1) == predicted_slower
        support["measured"] = (f"p50 {ratio:.2f}x the FP32 row's: {'slower' if ratio > 1 else 'faster'}, "
                               f"{'as predicted' if held else 'not as predicted'}")
        changed.append(row)
    return changed
