"""Energy is labelled "measured" only when RAPL counters were read, and "estimate" everywhere else."""

from __future__ import annotations

import time

import pytest

from edgepick.report.rigor import energy_text
from edgepick.worker import energy


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(1000))


def _fake_powercap(root, start_uj: int, wrap: int = 2**32):
    zone = root / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "energy_uj").write_text(str(start_uj))
    (zone / "max_energy_range_uj").write_text(str(wrap))
    (root / "intel-rapl:0:0").mkdir()  # a sub-zone (core): not a package, must not be added twice
    (root / "intel-rapl:0:0" / "energy_uj").write_text("0")
    return zone


def test_no_powercap_gives_an_estimate_labelled_as_such(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPICK_WATTS_PER_CORE", "4")
    probe = energy.Probe.start(root=tmp_path / "missing")
    _busy(0.05)
    out = probe.stop(inferences=10)
    assert out["kind"] == "estimate"
    assert out["source"].startswith("estimate")
    assert out["joules"] == pytest.approx(out["cpu_s"] * 4)
    assert out["mj_per_inference"] == pytest.approx(1e3 * out["joules"] / 10)
    assert "(estimate)" in energy_text(out)
    assert "measured" not in energy_text(out)


def test_readable_rapl_is_a_measurement_with_wraparound(tmp_path):
    zone = _fake_powercap(tmp_path, start_uj=2**32 - 1_000_000)
    probe = energy.Probe.start(root=tmp_path)
    assert [z.name for z in probe.zones] == ["intel-rapl:0"]
    (zone / "energy_uj").write_text(str(2_000_000))  # wrapped: 1 J before the wrap + 2 J after
    out = probe.stop(inferences=1000, items_per_inference=4)
    assert out["kind"] == "measured"
    assert out["joules"] == pytest.approx(3.0)
    assert out["mj_per_inference"] == pytest.approx(3.0)
    assert out["mj_per_item"] == pytest.approx(0.75)
    assert energy_text(out).endswith("(measured, RAPL)")


def test_unreadable_counter_falls_back_to_estimate(tmp_path):
    zone = _fake_powercap(tmp_path, start_uj=0)
    (zone / "energy_uj").write_text("not a number")
    assert energy.rapl_packages(tmp_path) == []
    assert "no readable" in energy.rapl_status(tmp_path)
    out = energy.Probe.start(root=tmp_path).stop(inferences=1)
    assert out["kind"] == "estimate"


def test_label_of_nothing_is_a_dash():
    assert energy_text(None) == "-"
