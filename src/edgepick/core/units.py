"""Strict parsing of the small strings users type: lists of ints, memory sizes."""

from __future__ import annotations

import re

from edgepick.core.errors import UserError

_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|KIB|MIB|GIB)\s*$", re.IGNORECASE)
_FACTOR = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_int_list(text: str, option: str, minimum: int = 1) -> list[int]:
    try:
        values = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        values = []
    if not values or any(v < minimum for v in values):
        kind = "positive integers" if minimum == 1 else f"integers >= {minimum}"
        raise UserError(f"bad {option} '{text}': give {kind} separated by commas, e.g. {option} 1,2")
    return list(dict.fromkeys(values))


def parse_size(text: str, option: str = "--memory-limit") -> int:
    """'512MB' -> bytes. Decimal units are decimal, binary units binary; a bare number is refused as ambiguous."""
    m = _SIZE.match(text or "")
    if not m:
        raise UserError(f"bad {option} '{text}': give a number and a unit, e.g. 512MB, 1GB or 1.5GiB")
    value = float(m.group(1)) * _FACTOR[m.group(2).upper()]
    if value < 1:
        raise UserError(f"bad {option} '{text}': must be positive")
    return int(value)
