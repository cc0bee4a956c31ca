"""sweep/settings.py: each part validates its own values (one UserError line, before any work); the CLI and
edgepick.pick() build the same Settings; flat names resolve to their part."""

from __future__ import annotations

import os

import pytest
import typer

from edgepick.cli.main import app
from edgepick.cli.settings import settings_from_cli
from edgepick.core.errors import UserError
from edgepick.core.job import TimingPolicy
from edgepick.sweep.settings import FLAT, Compression, Rigor, Selection, Settings, Target, Timing, Workload, build


@pytest.mark.parametrize("part, values, says", [
    (Workload, {"threads": [0]}, "--threads and --batch take positive integers"),
    (Workload, {"data_limit": 0}, "--data-limit 0"),
    (Workload, {"precisions": "fp8"}, "unknown precision 'fp8'"),
    (Timing, {"timeout_s": float("nan")}, "--timeout nan"),
    (Timing, {"step_timeout_s": -1}, "--step-timeout -1"),
    (Selection, {"budget": "p90<=fast"}, "p90"),
    (Target, {"memory_mechanism": "swap"}, "bad --memory-mechanism 'swap'"),
    (Target, {"memory_limit": 0}, "--memory-limit must be positive"),
    (Target, {"cores": [10**6]}, "are not usable here"),
    (Target, {"platform": "amiga-m68k"}, "amiga"),
    (Rigor, {"repeats": 0}, "--repeats takes a count >= 1"),
    (Rigor, {"cold_start": -1}, "--cold-start takes a count >= 0"),
    (Compression, {"max_acc_drop": "150%"}, "--max-acc-drop 150%"),
    (Compression, {"calib_size": 0}, "--calib-size"),
    (Compression, {"compressions": ["int3-magic"]}, "int3-magic"),
])
def test_each_part_refuses_a_wrong_value_with_one_line(part, values, says):
    with pytest.raises(UserError) as e:
        part(**values)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_threads_against_cores_spans_two_parts():
    usable = sorted(os.sched_getaffinity(0))
    with pytest.raises(UserError, match="more than the cores available"):
        Settings.of("m", threads=[len(usable) + 1])
    with pytest.raises(UserError, match="--cores gives 1"):
        Settings.of("m", threads=[2], cores=usable[:1]) if len(usable) > 1 else Settings.of("m", threads=[9], cores=usable)


def test_flat_names_route_to_their_part_and_unknown_ones_are_refused():
    s = Settings.of("m", threads=[1], budget="p90<=15ms", repeats=3, timing=TimingPolicy(min_samples=7), db_url="sqlite://")
    assert s.workload.threads == [1] and s.selection.budget == "p90<=15ms" and s.rigor.repeats == 3
    assert s.time.policy.min_samples == 7 and s.db_url == "sqlite://"
    assert s.threads == [1] and s.timing is s.time.policy  # flat reads resolve through FLAT
    assert set(FLAT) >= {"threads", "timing", "budget", "cores", "repeats", "compressions", "realtime"}
    with pytest.raises(UserError, match="unknown option.*thread"):
        Settings.of("m", thread=[1])
    with pytest.raises(UserError, match="--repeats"):
        s.repeats = 0  # a flat write lands in its part, which validates it again


def test_rigor_key_is_none_when_all_off():
    assert Rigor().key() is None
    assert Rigor(repeats=3).key()["repeats"] == 3 and Rigor(repeats=1, cold_start=2).key()["repeats"] == 0


def _cli_params(*args: str) -> dict:
    command = typer.main.get_command(app).commands["run"]
    return command.make_context("run", list(args)).params


def test_cli_and_python_api_build_the_same_settings():
    usable = sorted(os.sched_getaffinity(0))
    from_cli = settings_from_cli(_cli_params("m.onnx", "--threads", "1", "--batch", "1,8", "--budget", "p90<=15ms",
                                             "--repeats", "2", "--device", "pi-class", "--min-samples", "20"),
                                 "sqlite:///x.db")
    from_api = build("m.onnx", threads=[1], batches=[1, 8], budget="p90<=15ms", repeats=2, device="pi-class",
                     timing=TimingPolicy(min_samples=20), db_url="sqlite:///x.db")
    assert from_cli == from_api
    assert from_api.target.device["name"] == "pi-class" and from_api.target.cores == usable[:from_api.target.device["cores"]]


def test_cli_refuses_a_wrong_value_before_any_work():
    with pytest.raises(UserError, match="--repeats"):
        settings_from_cli(_cli_params("m.onnx", "--repeats", "0"), "sqlite://")
