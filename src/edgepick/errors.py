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
