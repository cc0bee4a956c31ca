"""The HTML report of a fleet run shows the cross-device table (candidate x device p50) as a heatmap."""

from __future__ import annotations

import dataclasses

import pytest

import edgepick

pytest.importorskip("plotly", reason="the HTML report needs plotly: pip install 'edgepick[report]'")
pytest.importorskip("onnxruntime")


def _on(row: dict, device: str, emulated: str | None = None) -> dict:
    """A measured row as the fleet stores it: key@device and the device's name and fingerprint."""
    fp = {"arch": "aarch64", "emulated": emulated} if emulated else {"arch": "x86_64"}
    return {**row, "key": f"{row['key']}@{device}", "device": {"name": device, "fingerprint": fp}}


def test_heatmap_cells_are_the_measured_p50s(home, tiny_onnx, fast):
    from edgepick.report import plots
    from edgepick.report.html import build_html

    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=[1, 2], timing=fast, precisions=["fp32"])
    measured = {r["key"]: r["latency_ms"]["p50"] for r in run.rows}
    assert len(measured) == 2 and all(measured.values())
    failed = {**run.rows[0], "status": "failed", "reason_class": "not-installed", "latency_ms": None}
    rows = [_on(r, "box-a") for r in run.rows] + [_on(run.rows[1], "qemu-arm", "qemu-user"), _on(failed, "qemu-arm")]
    from edgepick.select.decision import decide

    fleet = dataclasses.replace(run, rows=rows, decision=decide(rows, {}, None, fleet=True))  # as the sweep stores it

    (trace,) = plots.cross_device_heatmap(fleet).data
    assert list(trace.x) == ["box-a", "qemu-arm (emulated)"]
    assert list(trace.y) == list(measured)
    first, second = (run.rows[0]["key"], run.rows[1]["key"])
    assert list(trace.z[0]) == [measured[first], None] and list(trace.z[1]) == [measured[second], measured[second]]
    assert trace.text[0][1] == "not-installed"
    assert "p50 per device" in build_html(fleet)
    assert plots.cross_device_heatmap(run) is None and "p50 per device" not in build_html(run)  # local: unchanged
