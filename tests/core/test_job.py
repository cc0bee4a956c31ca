"""core/job.py: the job's settings types and the one list of result fields, checked directly."""

from __future__ import annotations

import warnings

import pytest

from edgepick.core import job, rows
from edgepick.core.errors import UserError


def test_the_worker_modules_use_the_contracts_settings_types():
    """One definition each: the worker reads the very types the parent builds (worker/ no longer defines them)."""
    from edgepick.worker import frameloop, latency, loadgen

    assert latency.TimingPolicy is job.TimingPolicy and latency.PROBE_POLICY is job.PROBE_POLICY
    assert loadgen.LoadGenSettings is job.LoadGenSettings and frameloop.RealtimeSettings is job.RealtimeSettings


def test_timing_policy_round_trips_and_the_probe_is_shorter_than_the_default():
    policy = job.TimingPolicy(min_samples=7)
    assert job.TimingPolicy(**policy.to_dict()) == policy
    assert job.PROBE_POLICY.min_duration_s < job.TimingPolicy().min_duration_s
    assert job.PROBE_POLICY.min_samples >= 6  # an order-statistic CI of the median needs six


def test_loadgen_settings_take_a_scenario_in_any_case_and_refuse_an_unknown_one():
    assert job.LoadGenSettings(scenario="server").scenario == "Server"
    assert job.LoadGenSettings(**job.LoadGenSettings("offline").to_dict()).scenario == "Offline"
    with pytest.raises(UserError, match="unknown --scenario 'Batch': one of SingleStream"):
        job.LoadGenSettings(scenario="Batch")


def test_realtime_settings_derive_the_deadline_and_the_expected_length():
    assert job.RealtimeSettings(fps=50).deadline_ms == pytest.approx(20.0)
    assert job.RealtimeSettings(deadline_ms=40).fps == pytest.approx(25.0)
    assert job.RealtimeSettings(fps=30, frames=90).expected_s() == pytest.approx(3.0)
    assert job.RealtimeSettings(fps=30, sustain_s=600).expected_s() == 600
    assert job.RealtimeSettings().expected_s() == 0.0  # free-running: no clock to wait on


def test_every_field_is_declared_once_with_a_meaning_and_a_known_role():
    names = [f.name for f in job.FIELDS]
    assert len(names) == len(set(names))
    for f in job.FIELDS:
        assert f.meaning and isinstance(f.type, type), f.name
        assert f.copy in (job.ALWAYS, job.PRESENT, job.READ, job.SWEEP), f.name
        assert f.row in (job.PUBLIC, job.STORED, None), f.name
        assert f.row or f.copy == job.READ, f"{f.name}: a field the row never keeps must be one the parent reads"
        assert f.column is None or (f.type in (int, float) and f.row == job.PUBLIC), f"{f.name}: a column shows a figure"


def test_the_rows_json_and_types_come_from_the_contract():
    assert rows.FIELDS == tuple(f.name for f in job.FIELDS if f.row == job.PUBLIC)
    assert set(rows.CandidateRow.__annotations__) == {f.name for f in job.FIELDS if f.row}
    assert "worker_job" in rows.CandidateRow.__annotations__ and "worker_job" not in rows.PublicRow.__annotations__
    assert "phase" not in rows.CandidateRow.__annotations__  # the result's bookkeeping is no row field


def test_problems_name_an_undeclared_key_a_parents_field_and_a_wrong_type():
    ok = {"status": "ok", "load_s": 1, "latency_ms": {"p50": 1.0}, "compile_s": None, "phase": "done"}
    assert job.problems(ok) == []  # an int where a float is declared, and None for "not measured", both conform
    found = job.problems({"gpu_util_pct": 40.0, "equivalence": {}, "load_s": "fast", "warmup_calls": True})
    assert found[0].startswith("'gpu_util_pct' is not a field a worker's result may carry")
    assert found[1].startswith("'equivalence' is not a field")  # the sweep sets it; a worker writing it is a bug
    assert found[2] == "'load_s' is str, declared float"
    assert found[3] == "'warmup_calls' is bool, declared int"  # an int to isinstance, but never a count


def test_an_undeclared_key_is_an_error_when_strict_and_a_warning_otherwise(monkeypatch):
    monkeypatch.setenv("EDGEPICK_STRICT_CONTRACT", "1")
    with pytest.raises(job.ContractError, match="'planted_ms' is not a field"):
        job.copy_measured({}, {"status": "ok", "planted_ms": 1.0})
    monkeypatch.setenv("EDGEPICK_STRICT_CONTRACT", "0")
    with pytest.warns(UserWarning, match="worker result: 'planted_ms' is not a field"):
        job.copy_measured({}, {"status": "ok", "planted_ms": 1.0})


def test_copy_measured_follows_each_fields_rule():
    row: dict = {"status": "ok", "equivalence": {"cosine": 1.0}}
    result = {"status": "failed", "reason": "x", "load_s": 0.5, "energy": {"kind": "estimate"}, "noise": None,
              "phase": "load", "device_name": "pi"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job.copy_measured(row, result)
    assert row["load_s"] == 0.5 and row["energy"] == {"kind": "estimate"}
    assert "latency_ms" in row and row["latency_ms"] is None  # ALWAYS: None when the worker never got there
    assert "noise" not in row and "cold_start" not in row  # PRESENT: only a pass that ran leaves a record
    assert row["status"] == "ok" and "reason" not in row and "phase" not in row  # READ: the sweep decides
    assert row["equivalence"] == {"cosine": 1.0}  # the parent's own fields are untouched


def test_declared_columns_are_listed_in_declared_order(monkeypatch):
    col = job.Column("GPU %", ".1f")
    planted = job.measured("gpu_util_pct", float, "%", "planted", column=col)
    monkeypatch.setattr(job, "FIELDS", job.FIELDS + (planted,))
    assert job.columns()[-1] == ("GPU %", planted) and "gpu_util_pct" in job.row_fields(job.PUBLIC)
