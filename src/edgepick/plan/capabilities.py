"""The capability matrix: where each runtime can deploy, every cell with the vendor page that says so.

Data lives in plan/capabilities.json beside this module (plain JSON, loaded without heavy deps), keyed by runtime
name. `table()` gives plain dicts for reports; `platform_verdict()` is the `--platform android-arm64` filter.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from edgepick.core.errors import UserError

_FILE = Path(__file__).with_name("capabilities.json")
CELL_KINDS = ("os", "arch", "accelerators", "precisions", "licence", "bindings")


@functools.lru_cache(maxsize=1)
def load() -> dict:
    return json.loads(_FILE.read_text())


def dimensions() -> dict[str, list[str]]:
    return load()["dimensions"]


def entry(runtime: str) -> dict | None:
    """{kind: {"value": ..., "source": url, "note"?: str}} for one runtime, or None if the matrix lacks it."""
    return load()["runtimes"].get(runtime)


def table(runtimes: list[str] | None = None) -> list[dict]:
    """One flat dict per runtime for reports: {"runtime", "os": {...}, ..., "sources": {kind: url}, "notes": {kind: str}}."""
    data = load()["runtimes"]
    out = []
    for name in runtimes or list(data):
        cells = data.get(name)
        if cells is None:
            out.append({"runtime": name, "missing": True})
            continue
        row = {"runtime": name}
        row.update({kind: cells[kind]["value"] for kind in CELL_KINDS})
        row["sources"] = {kind: cells[kind]["source"] for kind in CELL_KINDS}
        row["notes"] = {kind: cells[kind]["note"] for kind in CELL_KINDS if cells[kind].get("note")}
        out.append(row)
    return out


def parse_platform(text: str) -> tuple[str, str]:
    """'android-arm64' -> ('android', 'arm64'); 'linux-x86-64' -> ('linux', 'x86-64')."""
    dims = dimensions()
    os_name, _, arch = text.strip().lower().partition("-")
    arch = {"aarch64": "arm64", "x86_64": "x86-64", "amd64": "x86-64", "armv7l": "armv7", "armhf": "armv7"}.get(arch, arch)
    if os_name not in dims["os"] or arch not in dims["arch"]:
        examples = ", ".join(f"{o}-{a}" for o, a in (("android", "arm64"), ("linux", "x86-64"), ("ios", "arm64"), ("linux", "armv7")))
        raise UserError(f"unknown --platform '{text}': write <os>-<arch> with os in {'/'.join(dims['os'])} and arch in "
                        f"{'/'.join(dims['arch'])}, e.g. {examples}")
    return os_name, arch


def platform_verdict(runtime: str, platform: str) -> str | None:
    """None if `runtime` can deploy on `platform`; otherwise why not, with the source that says so."""
    os_name, arch = parse_platform(platform)
    cells = entry(runtime)
    if cells is None:
        return f"{runtime} has no entry in the capability matrix (plan/capabilities.json), so it cannot be vouched for on {platform}"
    for kind, key in (("os", os_name), ("arch", arch)):
        cell = cells[kind]
        value = cell["value"].get(key)
        if value is not True:
            said = "not supported" if value is False else "not documented"
            note = f" ({cell['note']})" if cell.get("note") else ""
            return f"{kind} {key}: {said} for {runtime}{note}; source: {cell['source']}"
    return None
