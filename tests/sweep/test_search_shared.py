"""Shared workers (issue 23, launch/grouped.py): a runtime's configurations measured in turn in one process.

Real runtimes on the planted module of test_search.py: onnxruntime runs first (the prior): with no bar yet, its two
batch sizes are both measured in full, in one worker, and set the bars; torch-eager's two batch sizes then share one
worker and are both clearly slower. Both workers import their framework ahead, side by side where the machine has
two cores (and the memory) for it, and neither import overlaps a measurement.
"""

from __future__ import annotations

import json
import os
import time

from tests.sweep.test_search import SLEEPY

import edgepick

CRASHES_AT_BATCH_2 = '''

class CrashesAtTwo(Sleepy):
    def forward(self, x):
        if os.environ.get("EDGEPICK_WORKER_ROLE") == "measure" and x.shape[0] == 2:
            os._exit(139)  # as a segfault in a runtime would end the process
        return super().forward(x)


def crashes():
    return CrashesAtTwo(20).eval()
'''


def _pick(model, fast, **options):
    return edgepick.pick(model, **{"precisions": "fp32", "timing": fast, "exhaustive": False, "threads": [1],
                                   "runtimes": ["onnxruntime", "torch-eager"], "batches": [1, 2], **options})


def _beside() -> int:
    """How many other workers import beside the first two groups' on this machine (launch/grouped.ahead_count)."""
    import psutil

    from edgepick.launch.grouped import ahead_count

    return min(2, ahead_count(len(os.sched_getaffinity(0)), psutil.virtual_memory().available)) - 1


def test_a_runtimes_configurations_share_one_worker(home, fast):
    (home.parent / "sleepy_models.py").write_text(SLEEPY)
    run = _pick("sleepy_models:slow", fast)
    beside = _beside()
    eager = [r for r in run.rows if r["runtime"] == "torch-eager"]
    assert [r["status"] for r in eager] == ["pruned", "pruned"], [r.get("reason") for r in eager]
    assert [r["probe"]["shared_worker"] for r in eager] == [  # the first loaded and run once ahead, beside others
        {"members": 2, "position": 1, "imported_beside": beside, "prepared_ahead": True},
        {"members": 2, "position": 2, "imported_beside": beside}]
    assert all(r["equivalence"]["cosine"] > 0.9999 for r in eager)  # still checked against the reference
    assert eager[0]["import_s"] == eager[1]["import_s"] > 0.05  # the one import, taken ahead, for each configuration
    groups = run.context["search_outcome"]["shared_workers"]
    # onnxruntime first: no bar at either batch size, so both are probed only (deferred) and, still contenders
    # when the race ends, measured in full in a second shared worker (not imported ahead: nothing else is left)
    assert [{k: g.get(k) for k in ("runtime", "members", "pruned", "deferred", "measured", "failed", "timed_out",
                                   "imported_beside")} for g in groups] == [
        {"runtime": "onnxruntime", "members": 2, "pruned": 0, "deferred": 2, "measured": 0, "failed": 0,
         "timed_out": False, "imported_beside": beside},
        {"runtime": "torch-eager", "members": 2, "pruned": 2, "deferred": 0, "measured": 0, "failed": 0,
         "timed_out": False, "imported_beside": beside},
        {"runtime": "onnxruntime", "members": 2, "pruned": 0, "deferred": 0, "measured": 2, "failed": 0,
         "timed_out": False, "imported_beside": None}]
    _no_import_beside_a_measurement(home / "runs" / run.run_id)
    ort = [r for r in run.rows if r["runtime"] == "onnxruntime"]
    for position, row in enumerate(ort, 1):  # contenders measured in full in their shared worker, then judged
        assert row["status"] == "ok" and not row["probe"].get("deferred")
        assert row["probe"]["shared_worker"] == {"members": 2, "position": position}
        assert "pruned" not in row["probe"] and row["latency_ms"]["samples"] >= fast.min_samples
        assert row["equivalence"]["cosine"] > 0.9999 and row["peak_rss_mb"] > 0
    assert run.pick["runtime"] == "onnxruntime"
    from edgepick.report.rigor import row_lines  # what `show --details` prints for such a row

    details = " ".join(row_lines(ort[1]))
    assert "measured in one worker with this runtime's 1 other configuration(s), 2 of 2" in details
    assert "its framework imported ahead" not in details  # the second round's worker was started alone
    assert "its framework imported ahead" in " ".join(row_lines(eager[1]))
    assert "loaded and first run ahead too" in " ".join(row_lines(eager[0]))
    assert "loaded and first run ahead" not in " ".join(row_lines(eager[1]))


def _no_import_beside_a_measurement(run_dir):
    """Every worker's import ended before the first group was sent its members (its group file written), when
    they were started together, or before its own group otherwise: no import overlapped a measurement. A worker
    started alone, its group given at once (a second round, after every planned one), imports with nothing beside."""
    dirs = sorted(run_dir.glob("shared-worker-*"), key=lambda d: int(d.name.rsplit("-", 1)[1]))
    dirs = [d for d in dirs if (d / "ahead.json").exists()]
    assert dirs and all((d / "imported.json").exists() for d in dirs)
    first_go = min((d / "group.json").stat().st_mtime for d in dirs)
    for d in dirs:
        imported = (d / "imported.json").stat().st_mtime
        assert imported <= max(first_go, (d / "group.json").stat().st_mtime)
        assert json.loads((d / "imported.json").read_text())["import_s"] > 0


def test_ahead_count_follows_the_cores_and_the_free_memory():
    from edgepick.launch.grouped import ahead_count, held_count

    gib = 2**30
    assert [ahead_count(1, 24 * gib), ahead_count(2, 24 * gib), ahead_count(16, 24 * gib)] == [1, 2, 4]
    assert [ahead_count(4, 1 * gib + 1), ahead_count(4, 3 * gib), ahead_count(4, None)] == [1, 3, 1]
    assert [held_count(1 * gib + 1), held_count(3 * gib), held_count(64 * gib), held_count(None)] == [1, 3, 16, 1]


def test_the_next_import_starts_as_soon_as_one_is_done(tmp_path):
    """Three groups planned, two importing at a time: the third's import starts when onnxruntime's (0.3 s here)
    is done, not when torch's (1.5 s) is; all three are imported before the first group is sent its members."""
    from edgepick.launch.base import LOCAL, Caps
    from edgepick.launch.grouped import SharedWorkers, Upcoming

    shared = SharedWorkers(LOCAL, ahead=2, held=3)
    jobs = {rt: {"runtime": rt, "artifact": {"format": "onnx", "path": str(tmp_path / "missing.onnx")}, "threads": 1, "batch": 1,
                 "cores": None, "inputs": str(tmp_path / "missing.npz")}
            for rt in ("onnxruntime", "torch-eager", "opencv-dnn")}
    shared.plan([Upcoming(jobs[rt], tmp_path) for rt in jobs])
    try:
        shared.measure([(jobs["onnxruntime"], tmp_path / "ort")], Caps(timeout_s=60))
        waiting = {rt: shared.started[(rt, jobs[rt]["artifact"]["path"])] for rt in ("torch-eager", "opencv-dnn")}
        assert all(w.imported == 2 and w.process.proc.poll() is None for w in waiting.values())
        third_started = (waiting["opencv-dnn"].group_dir / "ahead.json").stat().st_mtime
        assert third_started < (waiting["torch-eager"].group_dir / "imported.json").stat().st_mtime
        first_go = (tmp_path / "shared-worker-0" / "group.json").stat().st_mtime
        assert all((w.group_dir / "imported.json").stat().st_mtime <= first_go for w in waiting.values())
    finally:
        shared.close()


def test_a_worker_started_ahead_and_never_needed_ends_by_itself(tmp_path):
    """Two groups planned, only the first measured: the second's worker imported and waited; at close it is sent
    EOF instead of its group and ends by itself (exit 0), before the 5 s it is given."""
    from edgepick.launch.base import LOCAL, Caps
    from edgepick.launch.grouped import SharedWorkers, Upcoming

    shared = SharedWorkers(LOCAL, ahead=2)
    jobs = {rt: {"runtime": rt, "artifact": {"format": "onnx", "path": str(tmp_path / "missing.onnx")}, "threads": 1, "batch": 1,
                 "cores": None, "inputs": str(tmp_path / "missing.npz")} for rt in ("onnxruntime", "opencv-dnn")}
    shared.plan([Upcoming(jobs[rt], tmp_path) for rt in jobs])
    answered = shared.measure([(jobs["onnxruntime"], tmp_path / "ort")], Caps(timeout_s=60))
    assert answered == 1  # its only member failed (no model file) as the first in its process: its own failure kept
    assert shared.groups[0]["failed"] == 1 and shared.groups[0]["imported_beside"] == 1
    waiting = shared.started[("opencv-dnn", jobs["opencv-dnn"]["artifact"]["path"])]
    assert waiting.imported == 2 and waiting.process.proc.poll() is None  # imported, asleep on its stdin
    started = time.monotonic()
    shared.close()
    assert waiting.process.proc.returncode == 0 and time.monotonic() - started < 5
    assert not (waiting.group_dir / "group.json").exists()


def test_a_crash_in_one_configuration_loses_none_of_the_others(home, fast):
    (home.parent / "sleepy_models.py").write_text(SLEEPY + CRASHES_AT_BATCH_2)
    run = _pick("sleepy_models:crashes", fast)
    eager = {r["batch"]: r for r in run.rows if r["runtime"] == "torch-eager"}
    assert eager[1]["status"] == "pruned" and eager[1]["probe"]["shared_worker"]["position"] == 1
    assert eager[2]["status"] == "failed" and eager[2]["reason_class"] == "crash", eager[2]  # measured alone again
    groups = {g["runtime"]: g for g in run.context["search_outcome"]["shared_workers"]}
    assert groups["torch-eager"]["pruned"] == 1 and groups["torch-eager"]["measured"] == 0


def test_a_group_that_cannot_start_leaves_each_member_to_its_own_worker(tmp_path, monkeypatch):
    from edgepick.core import envs, errors
    from edgepick.launch.base import LOCAL, Caps
    from edgepick.launch.grouped import SharedWorkers

    def missing(job):
        raise errors.CandidateFailure(errors.NOT_INSTALLED, "the mxnet venv is not built")

    monkeypatch.setattr(envs, "worker_launch", missing)
    groups = SharedWorkers(LOCAL)
    jobs = [({"runtime": "mxnet", "artifact": {"path": "m.onnx"}, "batch": b}, tmp_path / f"b{b}") for b in (1, 8)]
    assert groups.measure(jobs, Caps()) == 0 and groups.ready == {}
    assert groups.groups == [{"runtime": "mxnet", "members": 2, "pruned": 0, "measured": 0,
                              "error": "the mxnet venv is not built"}]


def test_a_preparation_made_ahead_serves_only_the_same_load():
    """worker/shared_group.py: the first member's load and first inference made ahead serve a member that agrees on
    everything the load depends on; another member (here batch 2) is prepared in its turn, the early one closed."""
    from edgepick.worker.shared_group import _load_key, _ready_for

    job = {"runtime": "onnxruntime", "artifact": {"path": "m.onnx", "meta": {}}, "threads": 1, "batch": 1,
           "cores": [0], "inputs": "x.npz", "probe": {"bar": None}}
    ready = {"key": _load_key(job), "result": {"load_s": 0.1}, "state": None}
    job["artifact"]["meta"]["run_precision"] = "fp32"  # what loading fills in does not make it another load
    assert _ready_for(dict(job, batch=2, artifact={"path": "m.onnx", "meta": {}}), ready) is None
    same = dict(job, artifact={"path": "m.onnx", "meta": {}}, probe={"bar": {"margin": 1.3}})
    assert _ready_for(same, ready) == ({"load_s": 0.1}, None)
