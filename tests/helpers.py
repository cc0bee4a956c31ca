"""Helpers the tests share: run the CLI as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(*args: str, env: dict | None = None, cwd=None, timeout: float = 300) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "edgepick.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


FAST_ARGS = ("--min-duration", "0.05", "--min-samples", "5", "--warmup", "2")
