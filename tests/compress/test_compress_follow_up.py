"""compress/search.next_round: the INT8 float-back search reads the rows it needs by label, wherever they sit in the
list, so rows arriving out of order (a device fleet, a resumed run) give the same rounds as a sequential sweep."""

from __future__ import annotations

import random

from edgepick.compress.search import _failing, next_round


def _row(label: str, status: str, batch: int = 1, **comp) -> dict:
    return {"key": f"onnxruntime/{label}/t1/b{batch}", "runtime": "onnxruntime", "threads": 1, "batch": batch,
            "status": status, "compression": {"label": label, "compressor": "int8-static", **comp}}


RANKED = [{"node": f"n{i}", "score_if_float": 1.0 - i / 10} for i in range(5)]


def _failing_row() -> dict:
    return _row("int8-static-minmax", "disagrees", sensitivity=RANKED)


def test_rounds_double_until_one_passes_whatever_the_row_order():
    base = _failing_row()
    others = [_row("int8-dynamic", "ok"), {"key": "openvino/fp32/t1/b1", "runtime": "openvino", "status": "ok"}]
    history = [
        ([], ("due", 1)),
        ([_row("int8-static-minmax-float1", "disagrees")], ("waiting", 1)),  # one of round 1's two rows is in
        ([_row("int8-static-minmax-float1", "disagrees", batch=2)], ("due", 2)),
        ([_row("int8-static-minmax-float2", "disagrees"), _row("int8-static-minmax-float2", "disagrees", batch=2)],
         ("due", 4)),
        ([_row("int8-static-minmax-float4", "ok", batch=2), _row("int8-static-minmax-float4", "disagrees")],
         ("done", 4)),
    ]
    rows = [base, *others]
    rng = random.Random(0)
    for arrived, expected in history:
        rows += arrived
        for _ in range(5):  # the same rows in any order: the same state
            shuffled = rows[:]
            rng.shuffle(shuffled)
            assert next_round(base, shuffled, per_round=2) == expected, (expected, [r["key"] for r in shuffled])


def test_every_node_tried_ends_the_search_and_followups_are_not_searched_again():
    base = _failing_row()
    rows = [_row(f"int8-static-minmax-float{k}", "disagrees") for k in (4, 1, 2)] + [base]
    assert next_round(base, rows, per_round=1) == ("done", 8)  # 8 > the 5 ranked nodes
    assert list(_failing(rows)) == ["int8-static-minmax"]  # float-back rows never start a search of their own
    assert next_round(_row("int8-static-x", "disagrees"), rows, per_round=1)[0] == "done"  # no ranking: nothing due
