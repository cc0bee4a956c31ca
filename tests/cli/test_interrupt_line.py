"""Issue 22, finding 7: Ctrl-C of a command that measures nothing (`devices`, `serve`, `export`) said "rows measured
so far are stored"; only a sweep's interrupt (SweepInterrupted) speaks of rows."""

from __future__ import annotations

from edgepick.cli.errors import interrupted_line
from edgepick.core.errors import SweepInterrupted


def test_a_plain_interrupt_claims_no_rows():
    line = interrupted_line(KeyboardInterrupt())
    assert line.startswith("interrupted") and "rows" not in line and "resume" not in line


def test_a_sweeps_interrupt_still_says_what_it_kept():
    assert "kept 3 of 5 rows" in interrupted_line(SweepInterrupted("abc", 3, 5))
