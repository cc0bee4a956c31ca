"""CLI pieces for real time: `run --preprocess/--postprocess/--fps/--deadline/--frames/--background-load/--sustain`."""

from __future__ import annotations

import os
import re

from edgepick.core.errors import UserError
from edgepick.core.job import RealtimeSettings

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|min|h)\s*$", re.IGNORECASE)
_SECONDS = {"ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


_LONGEST_S = {"--sustain": 24 * 3600.0, "--deadline": 3600.0}  # `--sustain 99999h` ran for years, silently


def parse_duration_s(text: str, option: str) -> float:
    """'33ms' -> 0.033, '10m' -> 600; a unit is required (33 what?), and the length is bounded."""
    m = _DURATION.match(text or "")
    example = "33ms" if option == "--deadline" else "10m"
    if not m or float(m.group(1)) <= 0:
        raise UserError(f"bad {option} '{text}': a positive number with a unit (ms, s, m, h), e.g. {option} {example}")
    seconds = float(m.group(1)) * _SECONDS[m.group(2).lower()]
    longest = _LONGEST_S.get(option)
    if longest is not None and seconds > longest:
        raise UserError(f"bad {option} '{text}': at most {longest / 3600:g} h, e.g. {option} {example}")
    return seconds


def realtime_settings(preprocess: str | None, postprocess: str | None, fps: float | None, deadline: str | None,
                      frames: int, reuse_frame: bool, background_load: int, sustain: str | None) -> dict | None:
    """The validated settings (core/job.RealtimeSettings), or None when nothing real-time was asked for."""
    from edgepick.worker import pipeline

    pipeline.check_spec(preprocess, "--preprocess", pipeline.PREPROCESS)
    pipeline.check_spec(postprocess, "--postprocess", pipeline.POSTPROCESS)
    from edgepick.inputs.validate import check_background_load, number_in

    if fps is not None:  # NaN passed `fps <= 0` and surfaced as "--timeout nan"
        number_in(fps, "--fps", 0, 10_000, " frames per second, e.g. --fps 30", low_open=True)
    if frames < 2:
        raise UserError("--frames takes a count >= 2 (300 resolves a 1% miss rate three times over)")
    check_background_load(background_load)  # one process per usable core at most (999 ran 999 processes)
    asked = preprocess or postprocess or fps or deadline or sustain or background_load or reuse_frame
    if not asked:
        return None
    settings = RealtimeSettings(preprocess=preprocess, postprocess=postprocess, fps=fps,
                                deadline_ms=parse_duration_s(deadline, "--deadline") * 1e3 if deadline else None,
                                frames=frames, fresh=not reuse_frame, background_load=background_load,
                                sustain_s=parse_duration_s(sustain, "--sustain") if sustain else None,
                                sys_path=os.getcwd() if (_is_user(preprocess) or _is_user(postprocess)) else None)
    return settings.to_dict()


def _is_user(spec: str | None) -> bool:
    return bool(spec) and ":" in spec


def realtime_options(budget: str | None, timeout_s: float, preprocess: str | None, postprocess: str | None,
                     fps: float | None, deadline: str | None, frames: int, reuse_frame: bool, background_load: int,
                     sustain: str | None) -> dict:
    """settings.Rigor.realtime and settings.Timing.timeout_s from the options."""
    from edgepick.select.budget import parse_budget

    realtime = realtime_settings(preprocess, postprocess, fps, deadline, frames, reuse_frame, background_load, sustain)
    if parse_budget(budget).get("miss") and not (realtime or {}).get("fps"):
        raise UserError("--budget miss<=...% needs a frame rate: add --fps 30 (or --deadline 33ms)")
    if realtime:  # the frame loop runs inside the worker: its hard timeout grows by the loop's length
        timeout_s += 1.5 * RealtimeSettings(**realtime).expected_s()
    return {"realtime": realtime, "timeout_s": timeout_s}
