"""core/rows.py: the one candidate-row type, its database round trip, and the one table of metric accessors."""

from __future__ import annotations

from edgepick.core.rows import COLUMNS, FIELDS, METRICS, from_db, metric, to_db, to_json
from edgepick.select import compare, pareto
from edgepick.select.budget import OBJECTIVES
from edgepick.store.db import Store


def _row() -> dict:
    return {"key": "onnxruntime/fp32/t1/b1", "runtime": "onnxruntime", "precision": "fp32", "threads": 1, "batch": 1,
            "status": "ok", "reason_class": None, "reason": None, "latency_ms": {"p50": 1.5, "p90": 2.0, "cv": 0.1},
            "throughput_per_s": 600.0, "peak_rss_mb": 80.0, "size_mb": 0.5, "accuracy": 0.9,
            "latency_samples_ms": [1.4, 1.5, 1.6], "worker_job": {"runtime": "onnxruntime"}}


def test_a_row_survives_the_store_unchanged(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    run = store.create_run("k", "m", "h", {}, {})
    store.save_candidate(run.id, to_db(_row()))
    (stored,) = store.get_run(run.id).candidates
    assert from_db(stored) == _row()
    assert set(COLUMNS) <= set(FIELDS) and "latency_samples_ms" not in to_db(_row())["metrics"]


def test_json_carries_every_public_field_in_order_and_nothing_internal():
    out = to_json(_row(), "slower")
    assert tuple(out)[:-1] == FIELDS and out["not_picked_because"] == "slower"
    assert "worker_job" not in out and "latency_samples_ms" not in out and out["peak_rss_mb"] == 80.0


def test_one_metric_table_serves_objectives_pareto_and_compare():
    row = _row()
    for name, (_, lower) in OBJECTIVES.items():  # every --optimize objective reads through the table, same direction
        assert METRICS[name].lower_is_better == lower
    assert [read(row) for _, read, _ in pareto.AXES] == [1.5, 0.9, 80.0, 0.5]
    assert {label: read(row) for label, read, _ in compare.METRICS}["p90 ms"] == 2.0
    assert metric(row, "load") is None and metric({"latency_ms": None}, "latency") is None
