"""`edgepick show RUN` answers first (short, 100 columns); `--wide` / `--details` hold the full table and the per-row
blocks; `run --help` groups its options in panels. On a real stored run (tests/data/stored_run.json), no sweep."""

from __future__ import annotations

import pytest
import typer
from tests.store.test_stored_run_json import load_stored_run
from typer.testing import CliRunner

from edgepick.cli.main import _PANELS, app


@pytest.fixture
def stored(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPICK_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'run.db'}"
    return load_stored_run(url), url


def _show(stored, *flags: str) -> str:
    run_id, url = stored
    out = CliRunner().invoke(app, ["show", run_id, "--db", url, *flags])
    assert out.exit_code == 0, out.output
    return out.stdout


def test_show_prints_the_short_answer_inside_100_columns(stored):
    text = _show(stored)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100 and "…" not in text
    assert lines[2].startswith("pick: onnxruntime · fp32 · 1 thread · batch 1")
    assert "times slower" in text and "batch 2, compared for throughput, not latency (5)" in text
    assert f"edgepick show {stored[0]} --wide" in text
    assert "max|err| / cos" not in text and "roofline" not in text.replace("roofline, noise", "")


def test_wide_and_details_are_the_long_form(stored):
    wide = _show(stored, "--wide")
    assert "max|err| / cos" in wide and "RSS MB (+load)" in wide and "rejected" in wide  # table, pick, why not
    assert "GFLOP/s achieved" not in wide
    details = _show(stored, "--details")
    assert "GFLOP/s achieved" in details and "95% CI" in details and "max|err| / cos" not in details
    both = _show(stored, "--wide", "--details")
    assert "max|err| / cos" in both and "GFLOP/s achieved" in both


def test_run_help_groups_every_option_in_a_panel():
    command = typer.main.get_command(app).commands["run"]
    options = {p.name: getattr(p, "rich_help_panel", None) for p in command.params if p.name not in ("model", "help")}
    assert not [name for name, panel in options.items() if panel is None], "give each run option a panel in _PANELS"
    assert set(options.values()) == set(_PANELS)
    out = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "100"})
    assert out.exit_code == 0
    for panel in _PANELS:
        assert panel in out.stdout


def test_the_wide_tables_note_says_why_a_row_lost_without_a_class_it_has_not():
    from edgepick.report.columns import _note

    pruned = {"status": "pruned", "reason_class": None, "reason": "probe p50 3.1x the best; measure it with --exhaustive"}
    assert _note(pruned) == pruned["reason"]  # once "None: probe p50 ..." (the demo's `show --wide`)
    failed = {"status": "failed", "reason_class": "unsupported-shape", "reason": "fixed input shape"}
    assert _note(failed) == "unsupported-shape: fixed input shape"
