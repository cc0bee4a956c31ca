"""Progress per phase and per candidate (issue 23, item 5): the events of a sweep, the phase split, the last line."""

from __future__ import annotations

from edgepick.report.progress import Phases, sweep_with_progress


def _events(on):
    on("start", {"run_id": "abc", "total": 3, "resumed": 0})
    on("predicted", {"loses": ["tvm/fp32/t1/b1"], "skipped": False})
    on("phase", {"name": "convert", "total": 1})
    on("converting", {"key": "onnx-to-openvino"})
    on("converted", {"key": "onnx-to-openvino"})
    on("phase", {"name": "measure", "total": 3})
    for key, status in (("onnxruntime/fp32/t1/b1", "ok"), ("openvino/fp32/t1/b1", "ok"), ("tvm/fp32/t1/b1", "pruned")):
        on("measuring", {"key": key, "phase": "probe", "index": 0, "total": 3, "elapsed_s": 0.0})
        on("measured", {"key": key, "status": status})
    return "the run"


def test_phases_split_the_wall_time_in_order():
    phases = Phases()
    _events(phases.on)
    split = phases.split(total_s=10.0)
    assert set(split) == {"load_reference", "convert", "measure", "after"}
    assert all(v >= 0 for v in split.values()) and abs(sum(split.values()) - 10.0) < 1e-6
    assert phases.statuses == {"ok": 2, "pruned": 1}
    assert "1 pruned by their probes" in phases.line()
    # a deferred row judged at the end (sweep/racing.py) says "measured" twice: counted once, at its last status
    phases.on("measured", {"key": "onnxruntime/fp32/t1/b1", "status": "pruned"})
    assert phases.statuses == {"ok": 1, "pruned": 2} and "(1 ok, 2 pruned)" in phases.line()


def test_progress_ends_with_the_phase_line_on_stderr(capsys):
    assert sweep_with_progress(_events) == "the run"
    err = " ".join(capsys.readouterr().err.split())  # wrapped to the console's width
    assert "run abc: 3 candidates" in err
    assert "predict these lose: tvm/fp32/t1/b1; measured all the same" in err
    assert "time: load + reference" in err and "2 ok, 1 pruned" in err and "--exhaustive" in err


def test_quiet_prints_nothing(capsys):
    sweep_with_progress(_events, quiet=True)
    assert capsys.readouterr().err == ""
