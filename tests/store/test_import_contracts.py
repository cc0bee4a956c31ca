"""The import contracts of issue 20 refuse a planted import: store -> select, report -> sweep, report -> train.runner,
and a worker -> compression's parent side.

Each test copies the package to a temporary folder, adds one import line to one module, and runs `lint-imports` with
the project's own contracts (pyproject.toml) on the copy: the named contract must break, the unplanted copy must pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LINT = Path(sys.executable).parent / "lint-imports"

STORE = "store does not decide: store -> select is forbidden"
REPORT = "report shows: report -> sweep and report -> train.runner are forbidden"
WORKER = "a worker never reaches compression's parent side: worker -> compress.capped / compress.sweep_axis forbidden"


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The package's source, copied once: each test plants its line into a module and takes it out again."""
    if not LINT.exists():
        pytest.skip("lint-imports is not installed in this environment (pip install import-linter)")
    src = tmp_path_factory.mktemp("contracts") / "src"
    shutil.copytree(ROOT / "src" / "edgepick", src / "edgepick", ignore=shutil.ignore_patterns("__pycache__"))
    return src


def _lint(src: Path) -> subprocess.CompletedProcess:
    # the copy comes first on the path, so the linter reads it rather than the installed package
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT), "--no-cache", str(ROOT / "pyproject.toml")], cwd=src.parent, env=env,
                          capture_output=True, text=True, timeout=120)


def _planted(src: Path, module: str, line: str) -> subprocess.CompletedProcess:
    path = src / "edgepick" / module
    original = path.read_text()
    path.write_text(original + f"\n{line}\n")
    try:
        return _lint(src)
    finally:
        path.write_text(original)


def test_the_unplanted_copy_keeps_every_contract(copy):
    result = _lint(copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(f"{name} KEPT" in " ".join(result.stdout.split()) for name in (STORE, REPORT, WORKER)), result.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("store/result.py", "import edgepick.select.pick  # noqa", STORE),
    ("store/db.py", "from edgepick.select.fleet import cross_device  # noqa", STORE),
    ("report/summary.py", "import edgepick.sweep  # noqa", REPORT),
    ("report/table.py", "from edgepick.sweep import scheduler  # noqa", REPORT),
    ("report/train_html.py", "from edgepick.train.runner import run_from_store  # noqa", REPORT),
    ("worker/compress_tasks.py", "from edgepick.compress.capped import produce  # noqa", WORKER),
    ("compress/plan.py", "from edgepick.compress import capped  # noqa", WORKER),  # through worker -> compress.plan
])
def test_a_planted_import_breaks_its_contract(copy, module, line, contract):
    result = _planted(copy, module, line)
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in " ".join(result.stdout.split()), result.stdout  # a long name is wrapped
