"""The store: every candidate row is committed the moment it is measured, so a killed sweep loses nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine, event, make_url, select
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, selectinload

from edgepick.errors import UserError
from edgepick.store.schema import Base, CandidateRow, RunRow


class Store:
    def __init__(self, url: str):
        try:
            url = _with_driver(url)
            self.engine = create_engine(url)
            if self.engine.url.get_backend_name() == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
                Path(self.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
            if url.startswith("sqlite"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
            Base.metadata.create_all(self.engine)
        except (ArgumentError, OperationalError) as e:
            raise UserError(f"cannot open the results database '{_shown(url)}': {str(e).splitlines()[0]}") from e
        except ImportError as e:  # SQLAlchemy imports the server's driver only when the engine is made
            fix = ("pip install 'edgepick[postgres]'" if e.name == "psycopg"
                   else f"pip install the package that provides '{e.name}' (or use postgresql:// with 'edgepick[postgres]')")
            raise UserError(f"the results database '{_shown(url)}' needs the Python driver '{e.name}': {fix}") from e

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def find_resumable(self, request_key: str) -> RunRow | None:
        with self.session() as s:
            return s.scalars(select(RunRow).where(RunRow.request_key == request_key)
                             .order_by(RunRow.created_at.desc()).options(selectinload(RunRow.candidates))).first()

    def create_run(self, request_key: str, model_name: str, model_hash: str, request: dict, fingerprint: dict) -> RunRow:
        run = RunRow(id=uuid.uuid4().hex[:10], request_key=request_key, model_name=model_name, model_hash=model_hash,
                     request=request, fingerprint=fingerprint)
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

    def get_run(self, run_id: str) -> RunRow:
        with self.session() as s:
            matches = s.scalars(select(RunRow).where(RunRow.id.startswith(run_id))
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


def _shown(url: str) -> str:
    """The URL for messages, with any password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return str(url)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL keeps committed rows safe if the process is killed mid-sweep, and lets `list` read during a run.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()
