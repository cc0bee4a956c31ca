"""The whole frame loop, timed stage by stage, free-running or on a camera clock with deadlines.

A frame is: preprocess -> the runtime's own input conversion (Session.prepare) -> Session.run -> output conversion
(Session.to_numpy) -> postprocess. Each stage is timed apart, so a row can say "model 62%, preprocess 30%, copies 5%,
postprocess 3%" (copies = prepare + to_numpy).

On a clock (--fps 30, or --deadline 33ms): frame k arrives at start + k * period. The loop is a camera app's: when it
is free it waits for the next frame; when it finishes late, it takes the newest frame that has arrived and the ones
before it are dropped (a camera with a one-frame buffer). End-to-end latency runs from a frame's arrival to the end of
its postprocess, so it includes waiting behind the previous frame. A processed frame is late when its end-to-end
latency exceeds the deadline (default: the frame period).

    miss_rate = (late + dropped) / frames that arrived          a dropped frame missed its deadline too
    jitter_ms = mean |e2e[i] - e2e[i-1]| over processed frames  (the RFC 3550 interarrival-jitter idea)

Runs inside the isolated worker after the steady state (worker/measure.py), on the same loaded session.
"""

from __future__ import annotations

import time
import traceback
from array import array

import numpy as np

from edgepick.core.errors import first_line
from edgepick.core.job import RealtimeSettings  # the job's settings: the contract with the parent
from edgepick.worker import pipeline, sensors

STAGES = ("preprocess", "convert_in", "run", "convert_out", "postprocess")
DRIFT = 0.10  # last window's p50 more than 10% above the first window's: flagged
WARMUP_FRAMES = 5


class _Frames:
    """Per processed frame: arrival offset, end-to-end latency and the five stage times (ns), as compact arrays."""

    def __init__(self):
        self.arrival, self.e2e = array("q"), array("q")
        self.stages = [array("q") for _ in STAGES]
        self.dropped_at = array("q")  # arrival offsets of dropped frames
        self.sensor_samples: list[dict] = []


def _pipeline(settings: RealtimeSettings, session, samples: dict, batch: int):
    shapes = {k: (batch, *v.shape[1:]) for k, v in samples.items()}
    pre = pipeline.load(settings.preprocess, pipeline.PREPROCESS, shapes, settings.sys_path)
    post = pipeline.load(settings.postprocess, pipeline.POSTPROCESS, shapes, settings.sys_path)
    names = list(samples)
    clock = time.perf_counter_ns

    def process(frame) -> tuple[int, int, int, int, int]:
        t0 = clock()
        inputs = pipeline.as_inputs(pre(frame), names) if pre else frame
        t1 = clock()
        prepared = session.prepare(inputs)
        t2 = clock()
        raw = session.run(prepared)
        t3 = clock()
        outputs = session.to_numpy(raw)
        t4 = clock()
        if post:
            post(outputs)
        t5 = clock()
        return t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4

    return pre, post, process


def _record(rec: _Frames, arrival_offset: int, e2e: int, stages: tuple) -> None:
    rec.arrival.append(arrival_offset)
    rec.e2e.append(e2e)
    for column, value in zip(rec.stages, stages):
        column.append(value)


def _sleep_until(t_ns: int, clock) -> None:
    """Sleep most of the way, then spin: time.sleep alone overshoots by up to a scheduler tick."""
    while True:
        left = t_ns - clock()
        if left <= 0:
            return
        if left > 2_000_000:
            time.sleep((left - 1_000_000) / 1e9)


def _sensor_due(rec: _Frames, now: int, start: int, every_ns: int | None, cores: list[int]) -> None:
    if every_ns and now - start >= every_ns * (len(rec.sensor_samples) + 1):
        rec.sensor_samples.append({"t_s": (now - start) / 1e9, **sensors.snapshot(cores)})


def free_running(process, ring: list, rec: _Frames, frames: int, until_s: float | None, sensor_every_s, cores) -> int:
    """Back to back; returns the number of frames processed."""
    clock = time.perf_counter_ns
    start = clock()
    every = int(sensor_every_s * 1e9) if sensor_every_s else None
    end = start + int(until_s * 1e9) if until_s else None
    k = 0
    while (end is None and k < frames) or (end is not None and clock() < end):
        t0 = clock()
        stages = process(ring[k % len(ring)])
        _record(rec, t0 - start, clock() - t0, stages)
        k += 1
        _sensor_due(rec, clock(), start, every, cores)
    return k


def on_clock(process, ring: list, rec: _Frames, fps: float, total: int, sensor_every_s, cores) -> int:
    """Frames arrive every 1/fps s; returns the number that arrived (processed + dropped)."""
    clock = time.perf_counter_ns
    period = 1e9 / fps
    start = clock() + 1_000_000
    every = int(sensor_every_s * 1e9) if sensor_every_s else None
    k = 0  # the oldest frame not yet handled
    while k < total:
        latest = int((clock() - start) // period)
        if latest < k:  # idle: wait for frame k
            _sleep_until(start + int(k * period), clock)
            latest = k
        latest = min(latest, total - 1)
        for missed in range(k, latest):  # arrived while we were busy, superseded by a newer frame
            rec.dropped_at.append(int(missed * period))
        arrival = start + int(latest * period)
        stages = process(ring[latest % len(ring)])
        done = clock()
        _record(rec, arrival - start, done - arrival, stages)
        k = latest + 1
        _sensor_due(rec, done, start, every, cores)
    return total


def _pct(ms: np.ndarray, q: float) -> float | None:
    return float(np.percentile(ms, q)) if len(ms) else None


def stage_summary(rec: _Frames) -> tuple[dict, dict]:
    """Per stage p50/p99/mean (ms) and its share of the mean frame; and the shares the row prints."""
    cols = {name: np.frombuffer(col, dtype=np.int64) / 1e6 for name, col in zip(STAGES, rec.stages)}
    total = sum(float(c.mean()) for c in cols.values()) or 1.0
    stages = {name: {"p50_ms": _pct(c, 50), "p99_ms": _pct(c, 99), "mean_ms": float(c.mean()),
                     "share": float(c.mean()) / total} for name, c in cols.items()}
    shares = {"model": stages["run"]["share"], "preprocess": stages["preprocess"]["share"],
              "copies": stages["convert_in"]["share"] + stages["convert_out"]["share"],
              "postprocess": stages["postprocess"]["share"]}
    return stages, shares


def deadline_summary(rec: _Frames, settings: RealtimeSettings, arrived: int) -> dict:
    e2e = np.frombuffer(rec.e2e, dtype=np.int64) / 1e6
    out = {"fps": settings.fps, "deadline_ms": settings.deadline_ms, "frames": arrived, "processed": len(e2e),
           "late": None, "dropped": None, "miss_rate": None,
           "p50_e2e_ms": _pct(e2e, 50), "p99_e2e_ms": _pct(e2e, 99), "max_e2e_ms": float(e2e.max()) if len(e2e) else None,
           "jitter_ms": float(np.abs(np.diff(e2e)).mean()) if len(e2e) > 1 else 0.0}
    if settings.fps:
        late = int((e2e > settings.deadline_ms).sum())
        out.update(late=late, dropped=len(rec.dropped_at), miss_rate=(late + len(rec.dropped_at)) / max(1, arrived))
    return out


def timeline(rec: _Frames, settings: RealtimeSettings, window_s: float) -> list[dict]:
    """Per window of the sustained run: frames, p50/p99 end to end, miss rate, and the sensors read in it."""
    arrival = np.frombuffer(rec.arrival, dtype=np.int64) / 1e9
    e2e = np.frombuffer(rec.e2e, dtype=np.int64) / 1e6
    dropped = np.frombuffer(rec.dropped_at, dtype=np.int64) / 1e9
    windows = []
    end = float(arrival.max()) if len(arrival) else 0.0
    for i in range(max(1, int(np.ceil(end / window_s)))):
        lo, hi = i * window_s, (i + 1) * window_s
        sel = e2e[(arrival >= lo) & (arrival < hi)]
        n_drop = int(((dropped >= lo) & (dropped < hi)).sum())
        row = {"t_s": hi, "frames": int(len(sel)), "p50_ms": _pct(sel, 50), "p99_ms": _pct(sel, 99)}
        if settings.fps:
            row["miss_rate"] = (int((sel > settings.deadline_ms).sum()) + n_drop) / max(1, len(sel) + n_drop)
        seen = [s for s in rec.sensor_samples if lo < s["t_s"] <= hi + 1e-9]
        if seen:
            row["cpu_mhz"], row["thermal_c"] = seen[-1]["cpu_mhz"], seen[-1]["thermal_c"]
        windows.append(row)
    return windows


def drift(windows: list[dict]) -> dict:
    """Compare the first and last quarter of the windows (median of their p50s, so one noisy window cannot flag it):
    a rise over 10%, or a clock drop over 5%, is flagged."""
    full = [w for w in windows if w["frames"] and w["p50_ms"] is not None]
    if len(full) < 2:
        return {"flag": False, "why": "fewer than two windows with frames"}
    quarter = max(1, len(full) // 4)
    head, tail = full[:quarter], full[-quarter:]
    first, last = float(np.median([w["p50_ms"] for w in head])), float(np.median([w["p50_ms"] for w in tail]))
    change = last / first - 1
    flag = change > DRIFT
    parts = [f"p50 {first:.3g} -> {last:.3g} ms ({change * 100:+.0f}%, first vs last {quarter} of {len(full)} windows)"]
    clocks = [w.get("cpu_mhz") for w in (head[0], tail[-1])]
    if all(clocks):
        clock_change = clocks[1] / clocks[0] - 1
        parts.append(f"clock {clocks[0]:.0f} -> {clocks[1]:.0f} MHz ({clock_change * 100:+.0f}%)")
        flag = flag or clock_change < -0.05
    return {"flag": bool(flag), "p50_change": change, "why": ", ".join(parts)}


def frame_loop(settings: RealtimeSettings, session, samples: dict, batch: int, batch_of, cores: list[int]) -> dict:
    pre, post, process = _pipeline(settings, session, samples, batch)
    ring, inputs = pipeline.frame_ring(pre, samples, batch, batch_of, settings.fresh, settings.data_source)
    for i in range(WARMUP_FRAMES):  # the runtime is warm already; this warms the pre/postprocess and their caches
        process(ring[i % len(ring)])
    rec = _Frames()
    window_s = max(1.0, settings.sustain_s / 20) if settings.sustain_s else None
    t0 = time.perf_counter()
    if settings.fps:
        total = int(settings.sustain_s * settings.fps) if settings.sustain_s else settings.frames
        arrived = on_clock(process, ring, rec, settings.fps, total, window_s, cores)
    else:
        arrived = free_running(process, ring, rec, settings.frames, settings.sustain_s, window_s, cores)
    out = deadline_summary(rec, settings, arrived)
    out["stages"], out["shares"] = stage_summary(rec)
    out |= {"wall_s": time.perf_counter() - t0, "inputs": inputs, "fresh_inputs": settings.fresh,
            "preprocess": pipeline.describe(pre, settings.preprocess),
            "postprocess": pipeline.describe(post, settings.postprocess), "batch": batch}
    if settings.sustain_s:
        out["timeline"] = timeline(rec, settings, window_s)
        out["drift"] = drift(out["timeline"])
        out["sensors"] = sensors.availability(cores)
    return out


def frame_loop_phase(job: dict, result: dict, session, samples: dict, batch: int, batch_of) -> None:
    """The worker's frame-loop phase: a failure (a user's preprocess raising, a shape it got wrong) is recorded in
    result['realtime'] and leaves the steady-state row valid."""
    result["phase"] = "frame-loop"
    settings = RealtimeSettings(**job["realtime"])
    try:
        result["realtime"] = frame_loop(settings, session, samples, batch, batch_of, result.get("affinity") or [])
    except Exception as e:
        first = first_line(e, 300, empty="")
        result["realtime"] = {"error": f"{type(e).__name__} in the frame loop: {first}",
                              "traceback": traceback.format_exc()[-2000:], "fps": settings.fps,
                              "deadline_ms": settings.deadline_ms}
