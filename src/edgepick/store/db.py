"""The store: every candidate row is committed the moment it is measured, so a killed sweep loses nothing."""

from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, event, make_url, select
from sqlalchemy.exc import ArgumentError, DatabaseError
from sqlalchemy.orm import Session, selectinload

from edgepick.core.errors import UserError, first_line
from edgepick.store import ownership
from edgepick.store.schema import Base, CandidateRow, RunRow


class Store:
    def __init__(self, url: str):
        self.read_only = False
        try:
            url = _with_driver(url)
            self.engine = create_engine(url)
        except ModuleNotFoundError as e:  # postgresql:// without psycopg, mysql:// without MySQLdb, ...
            other = ("or use postgresql:// with pip install 'edgepick[postgres]'" if e.name in ("psycopg2", "asyncpg", "pg8000")
                     else "or use the default sqlite store")
            raise UserError(f"the database URL '{_safe(url)}' needs the Python driver '{e.name}', which is not installed: "
                            f"pip install {_DRIVERS.get(e.name, e.name)} ({other})") from e
        except (ArgumentError, ValueError) as e:
            raise UserError(f"bad --db '{_safe(url)}': {first_line(e)}; give an SQLAlchemy URL such as "
                            "sqlite:///results.db or postgresql://user@host/db") from e
        try:
            self._open(url)
        except DatabaseError as e:
            raise UserError(_database_error_line(self.engine, url, e)) from e
        except OSError as e:  # the folder for the sqlite file cannot be created
            raise UserError(f"cannot create the results database's folder {e.filename}: {e.strerror}; set "
                            "EDGEPICK_HOME (or --db) to a writable place") from e

    def _open(self, url: str) -> None:
        sqlite_file = self.engine.url.get_backend_name() == "sqlite" and self.engine.url.database not in (None, "", ":memory:")
        if sqlite_file:
            ownership.check_sqlite_path(Path(self.engine.url.database))
        if sqlite_file and _read_only(Path(self.engine.url.database)):
            # list/show on a read-only home: open the file immutable (no WAL, no journal, no lock files); runs refuse
            path = Path(self.engine.url.database).absolute()
            self.engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(f"file:{path}?immutable=1", uri=True))
            self.read_only, self.path = True, path
            ownership.refuse_foreign_schema(self.engine, True)
            return
        if sqlite_file:
            Path(self.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        _create_schema(self.engine, sqlite_file)
        if url.startswith("sqlite"):  # WAL only once the file is known to be edgepick's (the pragma writes to it)
            self.engine.dispose()  # pooled connections opened without the pragma are dropped
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def require_writable(self) -> None:
        if self.read_only:
            raise UserError(f"the results database {self.path} is read-only (or its folder is): a run must store rows; "
                            "set EDGEPICK_HOME (or --db) to a writable place. list/show still work here")

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def find_resumable(self, request_key: str) -> RunRow | None:
        with self.session() as s:
            run = s.scalars(select(RunRow).where(RunRow.request_key == request_key)
                            .order_by(RunRow.created_at.desc()).options(selectinload(RunRow.candidates))).first()
        if run is not None:
            ownership.claim(run.id)  # a run another live process is measuring is not resumed under it
        return run

    def create_run(self, request_key: str, model_name: str, model_hash: str, request: dict, fingerprint: dict) -> RunRow:
        run = RunRow(id=uuid.uuid4().hex[:10], request_key=request_key, model_name=model_name, model_hash=model_hash,
                     request=request, fingerprint=fingerprint)
        ownership.claim(run.id)  # owned before it is visible: a second process cannot resume it in between
        with self.session() as s:
            s.add(run)
            s.commit()
        return run

    def save_candidate(self, run_id: str, row: dict) -> None:
        with self.session() as s:
            existing = s.scalars(select(CandidateRow).where(CandidateRow.run_id == run_id,
                                                            CandidateRow.key == row["key"])).first()
            if existing:  # later passes (noise checks, flags resolved after the sweep) annotate; measured_at stays
                for name, value in row.items():
                    setattr(existing, name, value)
            else:
                s.add(CandidateRow(run_id=run_id, **row))
            s.commit()

    def finish_run(self, run_id: str, pick: str | None, request_updates: dict | None = None) -> None:
        with self.session() as s:
            run = s.get(RunRow, run_id)
            run.status, run.pick, run.finished_at = "done", pick, datetime.now(timezone.utc)
            if request_updates:  # reassigned, not mutated, so SQLAlchemy sees the JSON column change
                run.request = {**run.request, **request_updates}
            s.commit()
        ownership.release(run_id)

    def fail_run(self, run_id: str, why: str) -> None:
        """A run that cannot go on (its reference failed): never left 'running'."""
        with self.session() as s:
            run = s.get(RunRow, run_id)
            run.status, run.finished_at = "failed", datetime.now(timezone.utc)
            run.request = {**run.request, "failure": why}
            s.commit()
        ownership.release(run_id)

    def set_expected_rows(self, run_id: str, count: int) -> None:
        """How many rows the sweep planned: show/report of an interrupted run say how many are missing."""
        with self.session() as s:
            run = s.get(RunRow, run_id)
            run.request = {**run.request, "expected_rows": count}
            s.commit()

    def get_run(self, run_id: str) -> RunRow:
        with self.session() as s:
            # autoescape: '_' and '%' in a prefix are characters, not LIKE patterns (`show _` matched any run)
            matches = s.scalars(select(RunRow).where(RunRow.id.startswith(run_id, autoescape=True))
                                .options(selectinload(RunRow.candidates))).all()
        if not matches:
            raise UserError(f"no run '{run_id}' in this database; `edgepick list` shows the runs")
        if len(matches) > 1:
            raise UserError(f"run id prefix '{run_id}' is ambiguous ({len(matches)} runs); give more characters")
        return matches[0]

    def list_runs(self, limit: int = 50) -> list[RunRow]:
        with self.session() as s:
            return list(s.scalars(select(RunRow).order_by(RunRow.created_at.desc()).limit(limit)
                                  .options(selectinload(RunRow.candidates))).all())


# Team stores: `postgresql://` alone means psycopg2 to SQLAlchemy; the `postgres` extra installs psycopg 3, so a bare
# PostgreSQL URL is given that driver. An explicit `+driver` is left as the user wrote it.
_DEFAULT_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def _with_driver(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # create_engine says what is wrong with it
    if parsed.drivername not in _DEFAULT_DRIVERS:
        return url
    return parsed.set(drivername=_DEFAULT_DRIVERS[parsed.drivername]).render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL keeps committed rows safe if the process is killed mid-sweep, and lets `list` read during a run.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


_DRIVERS = {"psycopg": "'edgepick[postgres]'", "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient", "pymysql": "pymysql"}


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has no password field we could hide; say it as given
        return url


def _read_only(path: Path) -> bool:
    folder = path.absolute().parent
    if path.exists():
        return not os.access(path, os.W_OK) or not os.access(folder, os.W_OK)
    return folder.exists() and not os.access(folder, os.W_OK)


def _database_error_line(engine, url: str, e: Exception) -> str:
    first = first_line(getattr(e, "orig", e)) if str(e).strip() else type(e).__name__
    if engine.url.get_backend_name() == "sqlite" and engine.url.database:
        path = Path(engine.url.database).absolute()
        if path.exists() and path.stat().st_size and not _looks_like_sqlite(path):
            return (f"the results database {path} is damaged ({first}); move it aside (mv '{path}' '{path}.broken') "
                    "and run again: edgepick starts a new one, and the artifacts cache is kept")
        return f"cannot open the results database {path}: {first}; check its permissions, or move it aside and run again"
    return f"cannot open the results database '{_safe(url)}': {first}"


def _looks_like_sqlite(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def _create_schema(engine, sqlite_file: bool, tries: int = 3) -> None:
    """create_all, safe when two sweeps start on a new store at once: both see no tables and both CREATE, and the
    second failed with "table runs already exists". A file lock orders them on SQLite; a retry covers a server."""
    import contextlib

    from filelock import FileLock

    ownership.refuse_foreign_schema(engine, sqlite_file)  # before anything (even the lock file) is written beside it
    with FileLock(str(engine.url.database) + ".lock") if sqlite_file else contextlib.nullcontext():
        for attempt in range(tries):
            try:
                Base.metadata.create_all(engine)
                return
            except DatabaseError as e:
                if "already exists" not in str(e) or attempt == tries - 1:
                    raise
