"""A crash, a hang, running out of memory, NaN outputs and wrong outputs each become a classified row,
and the sweep goes on. The modules are real torch modules that misbehave only inside the worker process."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import edgepick

os.environ["EDGEPICK_TEST_PARENT"] = str(os.getpid())  # read by misbehaving.py at import


@pytest.fixture
def misbehaving(home):
    shutil.copy(Path(__file__).parents[1] / "misbehaving.py", home.parent / "misbehaving.py")
    return "misbehaving"


def _rows(spec, fast, **kw):
    kw.setdefault("precisions", ["fp32"])  # one row per runtime on every CPU (no BF16 rows where native)
    run = edgepick.pick(spec, runtimes=["torch-eager", "onnxruntime"], timing=fast, **kw)
    return {r["runtime"]: r for r in run.rows}


def test_segfault_is_a_crash_row_and_the_sweep_goes_on(misbehaving, fast):
    rows = _rows(f"{misbehaving}:segfault", fast)
    assert rows["torch-eager"]["status"] == "failed"
    assert rows["torch-eager"]["reason_class"] == "crash" and "SIGSEGV" in rows["torch-eager"]["reason"]
    assert rows["onnxruntime"]["status"] == "ok"  # exported in the parent, where the module behaves


def test_hang_hits_the_hard_timeout(misbehaving, fast):
    rows = _rows(f"{misbehaving}:hang", fast, timeout_s=20)
    assert rows["torch-eager"]["reason_class"] == "timeout"
    assert rows["onnxruntime"]["status"] == "ok"


def test_memory_cap_gives_does_not_fit(misbehaving, fast):
    rows = _rows(f"{misbehaving}:hog", fast, memory_limit=480 * 2**20)
    hog = rows["torch-eager"]
    assert hog["reason_class"] == "oom", hog
    assert "does not fit in 480 MB" in hog["reason"]
    assert rows["onnxruntime"]["status"] == "ok" and rows["onnxruntime"]["memory_cap"]["mechanism"]


def test_nan_outputs(misbehaving, fast):
    rows = _rows(f"{misbehaving}:nan", fast)
    assert rows["torch-eager"]["reason_class"] == "nan-outputs"


def test_wrong_outputs_disagree_and_are_never_picked(misbehaving, fast):
    run = edgepick.pick(f"{misbehaving}:wrong", runtimes=["torch-eager", "onnxruntime"], timing=fast,
                        precisions=["fp32"])  # one row per runtime on every CPU (no BF16 rows where native)
    rows = {r["runtime"]: r for r in run.rows}
    assert rows["torch-eager"]["status"] == "disagrees" and "max abs error" in rows["torch-eager"]["reason"]
    assert run.picked["runtime"] == "onnxruntime"
    assert "disagrees" in run.reasons[rows["torch-eager"]["key"]]


def test_unseeded_factory_measures_the_same_instance_everywhere(misbehaving, fast):
    run = edgepick.pick(f"{misbehaving}:unseeded", runtimes=["torch-eager", "onnxruntime"], timing=fast,
                        precisions=["fp32"])
    assert [r["status"] for r in run.rows] == ["ok", "ok"], [r["reason"] for r in run.rows]
    assert run.request["input_format"] == "torch-exported"
