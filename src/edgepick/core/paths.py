"""Where edgepick keeps its state: $EDGEPICK_HOME, default ./.edgepick (results.db, artifacts, zoo weights)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("EDGEPICK_HOME", ".edgepick")).absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db_url() -> str:
    return f"sqlite:///{home() / 'results.db'}"
