"""Where `edgepick cluster start` and `edgepick device join` keep what they started: the head's address and each
Ray node's temp folder, so `cluster stop` / `device leave` stop exactly those nodes. No Ray import here."""

from __future__ import annotations

import json
import os
from pathlib import Path


def state_dir() -> Path:
    root = Path(os.environ.get("EDGEPICK_CLUSTER_STATE") or Path.home() / ".cache" / "edgepick" / "cluster")
    root.mkdir(parents=True, exist_ok=True)
    return root


def save(kind: str, record: dict) -> None:
    (state_dir() / f"{kind}.json").write_text(json.dumps(record, indent=1))


def load(kind: str) -> dict | None:
    path = state_dir() / f"{kind}.json"
    return json.loads(path.read_text()) if path.exists() else None


def forget(kind: str) -> None:
    (state_dir() / f"{kind}.json").unlink(missing_ok=True)


def saved_address() -> str | None:
    head = load("head")
    return head["address"] if head else None
