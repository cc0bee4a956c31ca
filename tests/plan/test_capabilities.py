"""The capability matrix: complete for every registered runtime, every cell sourced, and the --platform filter."""

from __future__ import annotations

import pytest

from edgepick.core import errors
from edgepick.core.errors import UserError
from edgepick.core.registry import CONVERTERS, RUNTIMES
from edgepick.plan import capabilities
from edgepick.plan.planner import Candidate, drop_for_platform

# The runtimes issue 3 names: each must have a row even before its plugin lands, so the matrix is never behind.
ISSUE_RUNTIMES = ("torch-eager", "torch-compile", "torchscript", "executorch", "onnxruntime", "openvino", "tensorflow",
                  "litert", "keras-jax", "mxnet", "opencv-dnn", "ncnn", "tvm")


def _check_cells(name, cells):
    dims = capabilities.dimensions()
    assert set(capabilities.CELL_KINDS) <= set(cells), name
    for kind in capabilities.CELL_KINDS:
        cell = cells[kind]
        assert cell["source"].startswith("https://"), (name, kind)
        if kind in dims:
            assert set(cell["value"]) == set(dims[kind]), (name, kind)
            assert all(v in (True, False, None) for v in cell["value"].values()), (name, kind)
    assert cells["precisions"]["value"] and "fp32" in cells["precisions"]["value"], name
    assert isinstance(cells["licence"]["value"], str) and cells["licence"]["value"], name


def test_every_registered_plugin_imports_and_has_a_capability_entry():
    for name, rt in RUNTIMES.all().items():  # importing every plugin module is part of the check
        assert rt.name == name
        cells = rt.capabilities()
        assert cells is not None, f"runtime {name} has no entry in plan/capabilities.json"
        _check_cells(name, cells)
    for name, conv in CONVERTERS.all().items():
        assert conv.name == name and conv.target and conv.sources


@pytest.mark.parametrize("name", ISSUE_RUNTIMES)
def test_issue_runtimes_are_in_the_matrix(name):
    _check_cells(name, capabilities.entry(name))


def test_table_gives_plain_dicts_with_sources():
    rows = capabilities.table(["ncnn", "no-such-runtime"])
    assert rows[0]["runtime"] == "ncnn" and rows[0]["os"]["android"] is True
    assert rows[0]["sources"]["licence"].startswith("https://") and rows[0]["licence"] == "BSD-3-Clause"
    assert rows[1] == {"runtime": "no-such-runtime", "missing": True}


def test_platform_verdicts_cite_their_source():
    assert capabilities.platform_verdict("ncnn", "android-arm64") is None
    assert capabilities.platform_verdict("onnxruntime", "linux-x86_64") is None
    why = capabilities.platform_verdict("openvino", "android-arm64")
    assert "os android: not supported" in why and "https://docs.openvino.ai" in why
    assert "not documented" in capabilities.platform_verdict("tvm", "ios-arm64")
    assert "not in the capability matrix" not in (capabilities.platform_verdict("mxnet", "linux-riscv64") or "")


def test_bad_platform_is_a_user_error():
    with pytest.raises(UserError, match="<os>-<arch>"):
        capabilities.parse_platform("amiga-68k")


def test_drop_for_platform_blocks_with_the_platform_class():
    cands = [Candidate("openvino", "fp32", 1, 1, ["torch-to-onnx"]), Candidate("ncnn", "fp32", 1, 1, ["pnnx"]),
             Candidate("torch-eager", "fp32", 1, 1, [], (errors.NOT_INSTALLED, "torch is not installed"))]
    drop_for_platform(cands, "android-arm64")
    assert cands[0].blocked[0] == errors.PLATFORM and "android-arm64" in cands[0].blocked[1]
    assert cands[1].blocked is None
    assert cands[2].blocked[0] == errors.PLATFORM  # the platform reason wins over not-installed
