"""Shared probe workers (issue 23, launch/grouped.py): a runtime's configurations probed in one process.

Real runtimes on the planted module of test_search.py: onnxruntime runs first (the prior) and sets the bar of both
batch sizes; torch-eager's two batch sizes then share one probe worker and are both clearly slower.
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


def test_a_runtimes_configurations_share_one_probe_worker(home, fast):
    (home.parent / "sleepy_models.py").write_text(SLEEPY)
    run = _pick("sleepy_models:slow", fast)
    eager = [r for r in run.rows if r["runtime"] == "torch-eager"]
    assert [r["status"] for r in eager] == ["pruned", "pruned"], [r.get("reason") for r in eager]
    assert [r["probe"]["shared_worker"] for r in eager] == [{"members": 2, "position": 1}, {"members": 2, "position": 2}]
    assert all(r["equivalence"]["cosine"] > 0.9999 for r in eager)  # still checked against the reference
    assert eager[0]["import_s"] == eager[1]["import_s"]  # the one import, counted for each configuration
    groups = run.context["search_outcome"]["shared_probe_workers"]
    assert groups == [{"runtime": "torch-eager", "members": 2, "pruned": 2, "wall_s": groups[0]["wall_s"],
                       "timed_out": False}]
    assert all(r["status"] == "ok" and "shared_worker" not in (r.get("probe") or {})  # contenders: alone
               for r in run.rows if r["runtime"] == "onnxruntime")


def test_a_crash_in_one_configuration_loses_none_of_the_others(home, fast):
    (home.parent / "sleepy_models.py").write_text(SLEEPY + CRASHES_AT_BATCH_2)
    run = _pick("sleepy_models:crashes", fast)
    eager = {r["batch"]: r for r in run.rows if r["runtime"] == "torch-eager"}
    assert eager[1]["status"] == "pruned" and eager[1]["probe"]["shared_worker"]["position"] == 1
    assert eager[2]["status"] == "failed" and eager[2]["reason_class"] == "crash", eager[2]  # measured alone again
    assert run.context["search_outcome"]["shared_probe_workers"][0]["pruned"] == 1


def test_a_group_that_cannot_start_leaves_each_member_to_its_own_worker(tmp_path, monkeypatch):
    from edgepick.core import envs, errors
    from edgepick.launch.base import LOCAL, Caps
    from edgepick.launch.grouped import ProbeGroups

    def missing(job):
        raise errors.CandidateFailure(errors.NOT_INSTALLED, "the mxnet venv is not built")

    monkeypatch.setattr(envs, "worker_launch", missing)
    groups = ProbeGroups(LOCAL)
    jobs = [({"runtime": "mxnet", "artifact": {"path": "m.onnx"}, "batch": b}, tmp_path / f"b{b}") for b in (1, 8)]
    assert groups.probe(jobs, Caps(), lambda: {}) == 0 and groups.ready == {}
    assert groups.groups == [{"runtime": "mxnet", "members": 2, "pruned": 0, "error": "the mxnet venv is not built"}]
