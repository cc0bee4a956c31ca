"""Issue 22's store findings: another application's database is refused before anything is written to it, a
directory as --db is one line, run-id prefixes are not SQL patterns, and one process owns a run at a time."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest
from tests.helpers import cli, one_line_error

from edgepick.core.errors import UserError
from edgepick.store.db import Store


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("schema", ["create table users (id integer primary key, name text)",
                                    "create table runs (id text primary key, owner text)"])
def test_another_apps_sqlite_file_is_refused_unwritten(home, tmp_path, tiny_onnx, schema):
    """Finding 5: edgepick created its tables in the file before refusing it."""
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as conn:
        conn.execute(schema)
        conn.execute("insert into " + schema.split()[2] + " (id) values (1)")
    before = _digest(other)
    for args in (("list",), ("show", "abc"), ("run", str(tiny_onnx), "--runtimes", "onnxruntime")):
        one_line_error(cli(*args, "--db", f"sqlite:///{other}"), "not an edgepick results database")
    assert _digest(other) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("app.db")) == ["app.db"]  # no lock, no WAL
    with sqlite3.connect(other) as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        assert "candidates" not in tables and conn.execute("pragma journal_mode").fetchone()[0] != "wal"


def test_a_directory_as_db_is_one_line(home, tmp_path):
    """Finding 12: three chained IsADirectoryError tracebacks."""
    one_line_error(cli("list", "--db", f"sqlite:///{tmp_path}"), "directory", str(tmp_path))


def test_run_id_prefixes_are_not_sql_patterns(home):
    """Finding 13: `show _` and `show %%%%` resolved to a run."""
    store = Store(f"sqlite:///{home / 'results.db'}")
    run = store.create_run("key", "m", "0" * 64, {}, {})
    store.finish_run(run.id, None)
    for pattern in ("_", "%", "%%%%", "_" * 10, run.id[:3] + "%"):
        with pytest.raises(UserError, match="no run"):
            store.get_run(pattern)
    assert store.get_run(run.id[:4]).id == run.id
    one_line_error(cli("show", "_"), "no run '_'")
    one_line_error(cli("show", "%%%%"), "no run")


_HOLDER = textwrap.dedent("""
    import sys, time
    from edgepick.store.db import Store
    store = Store(sys.argv[1])
    run = store.find_resumable("same-request") or store.create_run("same-request", "m", "0" * 64, {}, {})
    print(run.id, flush=True)
    time.sleep(60)
""")


def test_one_process_owns_a_run_at_a_time(home):
    """Finding 6: a second identical run resumed the first's unfinished run; the first died on a missing file."""
    url = f"sqlite:///{home / 'results.db'}"
    first = subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdout=subprocess.PIPE, text=True)
    try:
        run_id = first.stdout.readline().strip()
        assert run_id
        second = subprocess.run([sys.executable, "-c", _HOLDER, url], capture_output=True, text=True, timeout=60)
        assert second.returncode != 0 and f"run {run_id} is being measured by another edgepick process" in second.stderr
        with pytest.raises(UserError, match="another edgepick process"):
            Store(url).find_resumable("same-request")
    finally:
        first.kill()
        first.wait(timeout=10)
    time.sleep(0.1)
    resumed = Store(url).find_resumable("same-request")  # its owner is gone (killed): the run can be resumed
    assert resumed.id == run_id


def test_a_second_identical_run_is_refused_while_the_first_measures(home, tiny_onnx):
    """Finding 6 end to end: the second `edgepick run` no longer resumes (and breaks) the first's unfinished run."""
    import json

    from tests.helpers import FAST_ARGS

    args = [sys.executable, "-m", "edgepick.cli.main", "run", str(tiny_onnx), "--runtimes", "onnxruntime",
            "--threads", "1", *FAST_ARGS, "--min-duration", "2", "--no-noise-retry", "--json"]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _run_rows(home):  # the first has created its run
            time.sleep(0.2)
        second = subprocess.run(args, capture_output=True, text=True, timeout=300)
        out, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0 and "Traceback" not in err, err
    first_id = json.loads(out)["run_id"]
    if second.returncode == 2:  # it started while the first was measuring
        one_line_error(second, f"run {first_id} is being measured by another edgepick process")
    else:  # the first had finished: its rows are reused, as a resume should
        assert second.returncode == 0 and json.loads(second.stdout)["run_id"] == first_id, second.stderr
    print(f"\nsecond run: exit {second.returncode}")


def _run_rows(home) -> int:
    db = home / "results.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("select count(*) from runs").fetchone()[0]
    except sqlite3.Error:
        return 0
