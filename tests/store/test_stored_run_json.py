"""`edgepick show --json` (schema edgepick.run/1) of a stored run stays byte-for-byte what it was.

tests/data/stored_run.json holds the database rows of a real run (tiny ONNX classifier; onnxruntime, openvino,
mxnet, tvm; FP32/BF16; batch 1 and 2; a budget and a weighted objective), its latency samples cut to 40 per row.
tests/data/stored_run_show.json is what `edgepick show <id> --json` printed for it with the code before the typed rows
(commit 20d7c9a). Any change to the JSON mapping, the row accessors or the selection shows up here as a byte diff.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

DATA = Path(__file__).parents[1] / "data"


def load_stored_run(url: str) -> str:
    """Insert the dumped rows into a fresh store at `url`; return the run id."""
    from sqlalchemy.orm import Session

    from edgepick.store.db import Store
    from edgepick.store.schema import CandidateRow, RunRow

    dumped = json.loads((DATA / "stored_run.json").read_text())
    times = ("created_at", "finished_at", "measured_at")
    when = {k: datetime.fromisoformat(v) for k, v in dumped["run"].items() if k in times and v}
    store = Store(url)
    with Session(store.engine) as s:
        s.add(RunRow(**{**dumped["run"], **when}))
        for c in dumped["candidates"]:
            s.add(CandidateRow(**{**c, "measured_at": datetime.fromisoformat(c["measured_at"])}))
        s.commit()
    return dumped["run"]["id"]


def test_show_json_of_a_stored_run_is_byte_identical(tmp_path, monkeypatch):
    from edgepick.cli.main import app

    monkeypatch.setenv("EDGEPICK_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'run.db'}"
    run_id = load_stored_run(url)
    out = CliRunner().invoke(app, ["show", run_id, "--db", url, "--json"])
    assert out.exit_code == 0, out.output
    assert out.stdout == (DATA / "stored_run_show.json").read_text()
