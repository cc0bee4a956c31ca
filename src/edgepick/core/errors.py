"""Two kinds of failure, kept apart on purpose.

A UserError stops the run: the request itself is wrong and nothing useful can be measured.
A CandidateFailure is one candidate failing; it becomes a recorded row and the sweep goes on.
"""

from __future__ import annotations

import re


class UserError(Exception):
    """A mistake in the request. Printed as one line (no traceback unless --debug), exit code 2."""

    exit_code = 2


# Classified reasons a candidate can fail with. Kept as plain strings so they survive JSON and SQL.
NOT_INSTALLED = "not-installed"
CONVERSION_ERROR = "conversion-error"
LOAD_ERROR = "load-error"
RUNTIME_ERROR = "runtime-error"
UNSUPPORTED_SHAPE = "unsupported-shape"
CRASH = "crash"
TIMEOUT = "timeout"
OOM = "oom"
NAN_OUTPUTS = "nan-outputs"
DISAGREES = "disagrees"
PLATFORM = "platform"  # dropped by --platform: the capability matrix says it cannot deploy there
DEVICE_LOST = "device-lost"  # --on: the device's node died or left mid-candidate; re-running measures it again

REASON_CLASSES = (
    NOT_INSTALLED,
    CONVERSION_ERROR,
    LOAD_ERROR,
    RUNTIME_ERROR,
    UNSUPPORTED_SHAPE,
    CRASH,
    TIMEOUT,
    OOM,
    NAN_OUTPUTS,
    DISAGREES,
    PLATFORM,
    DEVICE_LOST,
)


class CandidateFailure(Exception):
    """One candidate could not be built or measured; `reason_class` is one of REASON_CLASSES."""

    def __init__(self, reason_class: str, message: str):
        assert reason_class in REASON_CLASSES, reason_class
        super().__init__(message)
        self.reason_class = reason_class
        self.message = message


_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Exit|Interrupt|Failure)(?::\s.*)?$")


def root_cause(text: str) -> str | None:
    """The last exception line ("TypeError: ...") of a Python traceback in `text`, or None if it has none.

    A subprocess's stderr often ends with lines printed after the traceback (TVM's "BlockBuilder destroyed with
    remaining blocks!" warning at interpreter exit, a framework's log line): the last line is then not the error."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    found = [ln for ln in lines if _EXCEPTION_LINE.match(ln)]
    return found[-1] if found else None


def first_line(e: BaseException | str, limit: int | None = None, empty: str | None = None) -> str:
    """The first line of an exception's message, cut to `limit` characters: what a row's reason or a UserError quotes.
    An empty message gives `empty`, by default the exception's type name."""
    text = str(e).strip()
    if not text:
        return empty if empty is not None else type(e).__name__ if isinstance(e, BaseException) else ""
    return text.splitlines()[0][:limit]


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep, with what the store kept: the CLI prints it and exits 130. Not a KeyboardInterrupt
    subclass on purpose: the CLI framework turns those into a bare exit code and the message would be lost."""

    def __init__(self, run_id: str | None, kept: int, total: int | None):
        super().__init__(run_id, kept, total)
        self.run_id, self.kept, self.total = run_id, kept, total

    def __str__(self) -> str:
        if self.run_id is None:
            return "interrupted before the sweep started: nothing was measured"
        of = f" of {self.total}" if self.total is not None else ""
        return (f"interrupted: run {self.run_id} kept {self.kept}{of} rows in the store (the running worker was "
                f"stopped); run the same command again to resume: the kept rows are reused, the {self._missing} "
                f"are measured. `edgepick show {self.run_id}` shows it as incomplete")

    @property
    def _missing(self) -> str:
        return "rest" if self.total is None else f"{self.total - self.kept} missing"
