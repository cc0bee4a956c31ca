"""Energy from a board's own sensors (issue 13): hwmon energy counters and power rails, and the CPU clock and
temperature around the steady state. The sysfs trees here are real files in the layout the kernel's hwmon ABI
documents (microjoules, microwatts); this machine (a VM) exposes none, so its rows say so."""

from __future__ import annotations

import time

import pytest

from edgepick.report.rigor import energy_text
from edgepick.worker import energy


def _hwmon(tmp_path, **files):
    board = tmp_path / "hwmon" / "hwmon0"
    board.mkdir(parents=True)
    for name, value in files.items():
        (board / name).write_text(f"{value}\n")
    return tmp_path / "hwmon", board


def test_board_energy_counters_are_read_when_there_is_no_rapl(tmp_path):
    hwmon, board = _hwmon(tmp_path, energy1_input=1_000_000, energy2_input=500_000)
    probe = energy.Probe.start(root=tmp_path / "no-powercap", hwmon=hwmon)
    (board / "energy1_input").write_text("2500000\n")  # +1.5 J on one rail, +0.5 J on the other
    (board / "energy2_input").write_text("1000000\n")
    out = probe.stop(inferences=100)
    assert out["kind"] == "measured" and out["source"].startswith("hwmon energy")
    assert out["joules"] == pytest.approx(2.0)
    assert out["mj_per_inference"] == pytest.approx(20.0)
    assert "measured, board hwmon" in energy_text(out)


def test_board_power_rails_are_sampled_and_integrated(tmp_path):
    hwmon, _ = _hwmon(tmp_path, power1_input=2_000_000)  # 2 W, constant
    probe = energy.Probe.start(root=tmp_path / "no-powercap", hwmon=hwmon)
    time.sleep(0.5)
    out = probe.stop(inferences=10)
    assert out["kind"] == "measured" and "sampled every 50 ms" in out["source"]
    assert out["joules"] == pytest.approx(2.0 * 0.5, rel=0.3)  # within a sampling period or two of the window


def test_without_any_source_the_energy_is_an_estimate_that_says_why(tmp_path):
    out = energy.Probe.start(root=tmp_path / "none", hwmon=tmp_path / "none").stop(inferences=1)
    assert out["kind"] == "estimate" and "no hwmon energy or power" in out["source"]
    assert energy_text(out).endswith("(estimate)")


def test_clock_and_temperature_show_beside_the_energy_when_readable():
    sensors = {"before": {"cpu_mhz": 2400.0, "thermal_c": {"cpu": 51.0, "gpu": 40.0}},
               "after": {"cpu_mhz": 1800.0, "thermal_c": {"cpu": 74.0, "gpu": 45.0}}}
    text = energy_text({"kind": "estimate", "mj_per_inference": 1.0, "sensors": sensors})
    assert text == "1 mJ/inference (estimate); CPU 2400->1800 MHz, 51->74 C (hottest zone)"
    assert energy_text({"kind": "estimate", "mj_per_inference": 1.0, "sensors": {"unavailable": {}}}) == \
        "1 mJ/inference (estimate)"


def test_a_measured_row_records_the_sensors_or_why_they_are_missing(tiny_onnx, home, fast):
    from edgepick.sweep.scheduler import Request, execute

    row = execute(Request(model=str(tiny_onnx), runtimes=["onnxruntime"], threads=[1], timing=fast,
                          noise_retry=False)).rows[0]
    assert row["status"] == "ok", row["reason"]
    sensors = row["energy"]["sensors"]
    assert ("before" in sensors and "after" in sensors) or set(sensors["unavailable"]) == {"cpu_freq", "thermal"}
