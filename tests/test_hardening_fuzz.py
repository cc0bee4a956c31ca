"""Regression tests for what fuzz/ found, and a short smoke run of the harness (the long runs are `make fuzz`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import cli
from tests.test_cli_errors import _one_line_error

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"


@pytest.mark.parametrize("height", ["8:", "3\bheight=8", "\0", "abc", "0", "-4"])
def test_darknet_cfg_with_a_bad_net_dimension_is_one_line(home, height):
    # fuzz/ darknet target: int() of a non-number in [net] raised ValueError (a traceback in the CLI)
    (home.parent / "net.cfg").write_text(f"[net]\nbatch=1\nchannels=3\nheight={height}\nwidth=8\n", errors="surrogatepass")
    (home.parent / "net.weights").write_bytes(b"\0" * 64)
    _one_line_error(cli("run", "net.cfg"), "[net] section")


def test_fuzz_harness_smoke():
    pytest.importorskip("hypothesis", reason="the fuzz harness needs edgepick[fuzz] (hypothesis)")
    proc = subprocess.run([sys.executable, str(FUZZ / "run.py"), "--seconds", "2", "input-shape", "budget",
                           "device-yaml", "npz-arrays"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for target in ("input-shape", "budget", "device-yaml", "npz-arrays"):
        assert f"{target}: " in proc.stdout and "0 finding(s)" in proc.stdout
