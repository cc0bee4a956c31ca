"""The decision is made once by select/ and stored with the run; views and `show` read it back, never re-select.

A run stored before decisions were saved (tests/data/stored_run.json) gets one made by select/decision.settle, called
from the CLI: tests/store/test_stored_run_json.py checks that its `show --json` stays byte-identical.
"""

from __future__ import annotations

import json

import pytest

from edgepick.select.decision import decide, explained, settle
from edgepick.store.result import Run


def _row(runtime: str, p50: float, status: str = "ok", batch: int = 1) -> dict:
    return {"key": f"{runtime}/fp32/t1/b{batch}", "runtime": runtime, "precision": "fp32", "threads": 1, "batch": batch,
            "status": status, "reason_class": None if status == "ok" else "runtime-error",
            "reason": None if status == "ok" else "boom",
            "latency_ms": {"p50": p50, "p90": p50 * 1.1, "p99": p50 * 2, "p50_ci95": [p50 * 0.95, p50 * 1.05]},
            "throughput_per_s": 1000 / p50, "peak_rss_mb": 100.0, "size_mb": 1.0, "accuracy": None,
            "equivalence": {"max_abs_err": 0.0, "cosine": 1.0}}


ROWS = [_row("onnxruntime", 1.0), _row("openvino", 2.0), _row("tvm", 3.0, status="failed")]
REQUEST = {"selection": {"budget": "p50<=2.5ms"}, "reference_accuracy": None}


def _run(decision: dict | None) -> Run:
    return Run("r1", "m", "0" * 64, dict(REQUEST), {}, [dict(r) for r in ROWS], decision, {})


def test_the_decision_is_plain_json_and_names_the_pick_and_every_loser():
    decision = decide(ROWS, REQUEST["selection"], None)
    assert json.loads(json.dumps(decision)) == decision  # it goes into the store's JSON column as is
    assert decision["pick"] == "onnxruntime/fp32/t1/b1"
    assert set(decision["reasons"]) == {"openvino/fp32/t1/b1", "tvm/fp32/t1/b1"}
    assert decision["selection"]["budget"] == "p50<=2.5ms" and "cross_device" not in decision


def test_a_stored_decision_is_shown_without_selecting_again(monkeypatch):
    run = _run(json.loads(json.dumps(decide(ROWS, REQUEST["selection"], None))))  # as the store gives it back
    import edgepick.select.decision as decision_module

    monkeypatch.setattr(decision_module, "select_with", lambda *a: pytest.fail("a view selected again"))
    settle(run)  # has one: nothing is made
    doc = run.to_json()
    assert doc["pick"] == run.picked["key"] == "onnxruntime/fp32/t1/b1"
    assert "reasons" not in doc["selection"] and doc["selection"]["feasible"] == ["onnxruntime/fp32/t1/b1",
                                                                                  "openvino/fp32/t1/b1"]
    sel = explained(run)  # what report/ reads: the stored selection with the picked row itself
    assert sel.picked is run.rows[0] and sel.budget == "p50<=2.5ms"


def test_a_run_stored_without_a_decision_gets_the_one_the_sweep_would_have_saved():
    old = _run(None)
    with pytest.raises(RuntimeError, match="no decision yet"):
        old.to_json()  # the store does not decide
    assert settle(old).to_json() == _run(decide(ROWS, REQUEST["selection"], None)).to_json()


def test_a_fleet_decision_carries_one_pick_per_device_and_the_cross_device_table():
    rows = [{**r, "key": f"{r['key']}@{dev}", "device": {"name": dev, "fingerprint": {"arch": "x86_64"}}}
            for dev in ("a", "b") for r in ROWS]
    decision = decide(rows, {}, None, fleet=True)
    assert decision["pick"] == "onnxruntime/fp32/t1/b1@a"
    assert decision["cross_device"]["devices"] == ["a", "b"]
