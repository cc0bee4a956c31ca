"""Calling the user's own code (model factories, data callables) so its failures read as one line, not a traceback.

A factory that raises, or calls sys.exit() (even sys.exit(0)), is the user's bug: it stops the run with exit code 2
and says what the factory did, instead of a 50-line traceback or a silent exit 0 with nothing recorded.
"""

from __future__ import annotations

import contextlib
import logging

from edgepick.core.errors import UserError


def user_code_failure(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return f"it called sys.exit({e.code!r})"
    text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def call_user_factory(factory, spec: str):
    try:
        return factory()
    except (Exception, SystemExit) as e:  # not KeyboardInterrupt: Ctrl-C still interrupts
        raise UserError(f"the model factory '{spec}' failed: {user_code_failure(e)}; a factory must return an "
                        "nn.Module (run it with --debug for the traceback)") from e


@contextlib.contextmanager
def quiet_logger(name: str, level: int = logging.CRITICAL):
    """Silence a library's logger for one call whose failure we report ourselves (torch.export logs tracebacks)."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
