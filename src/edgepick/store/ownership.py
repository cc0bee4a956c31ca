"""Whose is it? The --db file must be edgepick's before anything is written to it, and a run directory is one
process's at a time.

- Another application's SQLite file given as --db was refused only after create_all had added edgepick's tables to
  it (and the WAL pragma had changed its journal mode): its tables are now read first, without writing.
- Two identical `edgepick run` started close together: the second found the first's unfinished run as resumable,
  rewrote its eval inputs under it and the first died on a missing file. The process that creates or resumes a run
  holds an exclusive lock on EDGEPICK_HOME/runs/RUN.owner for as long as it lives (the kernel releases it when the
  process ends, however it ends); a second process that finds the run locked is refused in one line.
"""

from __future__ import annotations

from pathlib import Path

from edgepick.core import paths
from edgepick.core.errors import UserError

_OURS = {"runs", "candidates"}
_SQLITE_OWN = {"sqlite_sequence", "sqlite_stat1", "sqlite_stat4"}  # SQLite's bookkeeping, not another app's data
_HELD: dict[str, object] = {}  # run id -> its held lock, for this process's life


def check_sqlite_path(path: Path) -> None:
    if path.is_dir():
        raise UserError(f"--db names the directory {path}; give a file in it, e.g. sqlite:///{path / 'results.db'}")


def refuse_foreign_schema(engine, sqlite_file: bool) -> None:
    """A database holding tables edgepick did not create (or its own with other columns) is refused, unwritten."""
    from sqlalchemy import inspect

    from edgepick.store.schema import Base

    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    foreign = sorted(tables - _OURS - _SQLITE_OWN) if sqlite_file else []  # a server database may hold other apps'
    mismatched = [t for t in sorted(tables & _OURS)
                  if {c.name for c in Base.metadata.tables[t].columns} - {c["name"] for c in inspector.get_columns(t)}]
    if foreign or mismatched:
        what = (f"tables {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}" if foreign
                else f"a '{mismatched[0]}' table with other columns")
        raise UserError(f"the database {_where(engine)} is not an edgepick results database (it holds {what}); "
                        "nothing was written to it: give --db a new file (e.g. sqlite:///results.db) or edgepick's own")


def _where(engine) -> str:
    url = engine.url
    return str(Path(url.database).absolute()) if url.get_backend_name() == "sqlite" else url.render_as_string()


def claim(run_id: str) -> None:
    """Own the run directory of `run_id` for this process's life; one line if another live process owns it."""
    from filelock import FileLock, Timeout

    if run_id in _HELD:
        return
    folder = paths.home() / "runs"
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f"{run_id}.owner"), timeout=0, thread_local=False, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        raise UserError(f"run {run_id} is being measured by another edgepick process right now; wait for it to finish "
                        f"(`edgepick show {run_id}` shows its progress), or pass --force to measure a separate run") from None
    _HELD[run_id] = lock


def release(run_id: str) -> None:
    lock = _HELD.pop(run_id, None)
    if lock is not None:
        lock.release()
