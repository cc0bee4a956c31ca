"""Shared workers (issue 23, launch/grouped.py): a runtime's configurations measured in turn in one process.

Real runtimes on the planted module of test_search.py: onnxruntime runs first (the prior): with no bar yet, its two
batch sizes are both measured in full, in one worker, and set the bars; torch-eager's two batch sizes then share one
worker and are both clearly slower.
"""

from __future__ import annotations

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


def test_a_runtimes_configurations_share_one_worker(home, fast):
    (home.parent / "sleepy_models.py").write_text(SLEEPY)
    run = _pick("sleepy_models:slow", fast)
    eager = [r for r in run.rows if r["runtime"] == "torch-eager"]
    assert [r["status"] for r in eager] == ["pruned", "pruned"], [r.get("reason") for r in eager]
    assert [r["probe"]["shared_worker"] for r in eager] == [{"members": 2, "position": 1}, {"members": 2, "position": 2}]
    assert all(r["equivalence"]["cosine"] > 0.9999 for r in eager)  # still checked against the reference
    assert eager[0]["import_s"] == eager[1]["import_s"]  # the one import, counted for each configuration
    groups = run.context["search_outcome"]["shared_workers"]
    assert [{k: g[k] for k in ("runtime", "members", "pruned", "measured", "timed_out")} for g in groups] == [
        {"runtime": "onnxruntime", "members": 2, "pruned": 0, "measured": 2, "timed_out": False},
        {"runtime": "torch-eager", "members": 2, "pruned": 2, "measured": 0, "timed_out": False}]
    ort = [r for r in run.rows if r["runtime"] == "onnxruntime"]
    for position, row in enumerate(ort, 1):  # contenders measured in full in their shared worker, then judged
        assert row["status"] == "ok" and row["probe"]["shared_worker"] == {"members": 2, "position": position}
        assert "pruned" not in row["probe"] and row["latency_ms"]["samples"] >= fast.min_samples
        assert row["equivalence"]["cosine"] > 0.9999 and row["peak_rss_mb"] > 0
    assert run.pick["runtime"] == "onnxruntime"
    from edgepick.report.rigor import row_lines  # what `show --details` prints for such a row

    assert "measured in one worker with this runtime's 1 other configuration(s), 2 of 2" in " ".join(row_lines(ort[1]))


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
