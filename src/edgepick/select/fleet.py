"""Selection over a fleet run (`--on`): one pick per device, and the cross-device table (candidate x device p50).

Each device's rows compete only with each other (a Pi's p50 is not comparable with a Xeon's). Rows measured on an
emulated device (qemu-user: the ARM code runs, but translated on another CPU) are never picked: their latencies say
that the candidate runs and agrees there, not how fast it would run on the real chip.
"""

from __future__ import annotations

from edgepick.core.rows import device_of, emulated, pickable  # noqa: F401  (the accessors live with the other row readers)


def base_key(row: dict) -> str:
    return row["key"].rsplit("@", 1)[0] if device_of(row) else row["key"]


def pick_per_device(rows: list[dict], settings: dict | None = None, reference_accuracy: float | None = None
                    ) -> tuple[dict | None, dict[str, str], dict[str, dict]]:
    """(the first device's pick or None, {row key: why not picked}, {device: {"pick": key or None, "verdict"}})."""
    from edgepick.select.pick import pick

    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(device_of(row) or "(this machine)", []).append(row)
    reasons: dict[str, str] = {}
    per_device: dict[str, dict] = {}
    first = None
    for name, group in groups.items():
        how = emulated(group[0])
        if how:
            for row in group:
                reasons[row["key"]] = f"measured on an emulated device ({how}): its latency is not the real chip's"
            per_device[name] = {"pick": None, "verdict": f"no pick: {name} is emulated ({how}); rows show that each "
                                                         "candidate runs and agrees there, not how fast"}
            continue
        chosen, why = pick(group, settings, reference_accuracy)
        reasons.update(why)
        per_device[name] = {"pick": chosen["key"] if chosen else None,
                            "verdict": _verdict(chosen) if chosen else "no candidate agrees with the reference here"}
        first = first or chosen
    return first, reasons, per_device


def _verdict(row: dict) -> str:
    p50 = (row.get("latency_ms") or {}).get("p50")
    return f"{base_key(row)}: p50 {p50:.4g} ms, the fastest median that agrees with the reference on this device"


def cross_device(rows: list[dict]) -> dict:
    """{"devices": [...], "rows": [{"candidate": key, "p50_ms": {device: ms|None}, "status": {device: status}}]}."""
    devices: list[str] = []
    table: dict[str, dict] = {}
    for row in rows:
        name = device_of(row)
        if name is None:
            continue
        if name not in devices:
            devices.append(name)
        entry = table.setdefault(base_key(row), {"candidate": base_key(row), "p50_ms": {}, "status": {}})
        entry["p50_ms"][name] = (row.get("latency_ms") or {}).get("p50") if row.get("status") == "ok" else None
        entry["status"][name] = row.get("reason_class") or row.get("status")
    emulated_devices = sorted({device_of(r) for r in rows if device_of(r) and emulated(r)})
    return {"devices": devices, "emulated": emulated_devices, "rows": list(table.values())}
