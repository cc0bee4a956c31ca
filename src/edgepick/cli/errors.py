"""What `edgepick` prints when a command fails outside the request's own validation: one line, never a traceback.

UserError is the request's mistake. The rest here is state the user can fix (a damaged database, a read-only home,
a full disk) and the interrupt: each becomes one line saying which file and what to do. Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import errno

from edgepick.core.errors import SweepInterrupted, first_line

_FIXABLE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT}


def state_error_line(e: BaseException) -> str | None:
    """One line for an error the user can fix, or None for a bug (which keeps its traceback)."""
    if isinstance(e, OSError) and e.errno in _FIXABLE_ERRNOS:
        where = f" {e.filename}" if e.filename else ""
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return f"cannot write{where}: {e.strerror}; free some space (old runs live under EDGEPICK_HOME/runs)"
        return (f"cannot write{where}: {e.strerror}; set EDGEPICK_HOME (or --db) to a writable folder "
                "(list and show work on a read-only home)")
    try:
        from sqlalchemy.exc import DatabaseError
    except ImportError:
        return None
    if isinstance(e, DatabaseError):
        first = first_line(getattr(e, "orig", e), empty="")
        if "readonly" in first or "read-only" in first:
            return (f"the results database is read-only ({first}); set EDGEPICK_HOME (or --db) to a writable folder")
        return (f"the results database failed ({first}); if the file is damaged, move it aside (EDGEPICK_HOME/results.db"
                " -> results.db.broken) and run again")
    return None


def interrupted_line(e: BaseException) -> str:
    if isinstance(e, SweepInterrupted):
        return str(e)
    # not a sweep (a sweep's Ctrl-C is a SweepInterrupted, which says what it kept): claim nothing about rows
    return "interrupted: stopped before finishing; nothing edgepick started is left running"


def click_kind(e: BaseException) -> str | None:
    """'abort', 'usage' or 'exit' for the CLI framework's own exceptions (click's, or typer's vendored copy)."""
    names = {c.__name__ for c in type(e).__mro__}
    if "Abort" in names:
        return "abort"
    if "ClickException" in names and hasattr(e, "show"):
        return "usage"
    if "Exit" in names and hasattr(e, "exit_code"):
        return "exit"
    return None
