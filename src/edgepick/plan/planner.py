"""Expand a request into candidates: runtime x threads x batch, each with its conversion path."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from dataclasses import asdict, dataclass, field

from edgepick.core import errors
from edgepick.core.registry import RUNTIMES
from edgepick.inputs.validate import only_known
from edgepick.plan.formats import usable_path

BACKGROUND_NICE = 10  # prefetch()'s threads, and the processes they start (Linux: nice is per thread, inherited)


@dataclass
class Candidate:
    runtime: str
    precision: str
    threads: int
    batch: int
    path: list[str] | None  # converter names from the input format; None when unreachable
    blocked: tuple[str, str] | None = None  # (reason_class, reason) when it cannot even be attempted
    # A compressed candidate (compress/plan.py): its label replaces the precision in the key, `path` starts from
    # the compressed artifact `start` (converted under `cache_dir`), `record` goes into the row as "compression".
    compression: str | None = None
    start: dict | None = None
    cache_dir: str | None = None
    record: dict | None = None
    steps: list | None = None
    precision_support: dict | None = None  # precision.Offer.to_dict(): native here or predicted slower (BF16/FP16)

    @property
    def key(self) -> str:
        return f"{self.runtime}/{self.compression or self.precision}/t{self.threads}/b{self.batch}"

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_runtimes(requested: list[str] | None) -> list[str]:
    known = RUNTIMES.names()
    if not requested:
        return known
    return only_known(requested, known, "runtime", "(see `edgepick runtimes`)")


@dataclass
class Prefetch:
    """plan()'s slow look-ups, started in the background by prefetch(): `host` warms the host's CPU description
    (core/fingerprint.cpu_info: py-cpuinfo runs a subprocess, about a second; the run's fingerprint reads it too),
    `probes` the unavailable_reason() of the runtimes that say it is slow and cached (TVM's import probe)."""

    host: threading.Thread
    probes: list[threading.Thread] = field(default_factory=list)

    def wait(self) -> None:
        """Until nothing started here runs any more (before measuring: no probe competes with a candidate)."""
        for thread in (self.host, *self.probes):
            thread.join()


def prefetch(requested: list[str] | None) -> Prefetch:
    """Start what plan() will look up slowly, so it overlaps the model's load instead of following it. The answers
    stay plan()'s own: a probe still running is waited for, one that raised is made again by the caller that needs
    it, who gets the error where it always did. An unknown runtime is left to resolve_runtimes, after the load."""
    from edgepick.core.fingerprint import cpu_info

    known = RUNTIMES.names()
    ahead = Prefetch(_in_background(cpu_info, "prefetch-cpu-info"))
    for name in [n for n in requested if n in known] if requested else known:
        try:
            rt = RUNTIMES.get(name)
        except Exception:  # a broken plugin: plan() meets the same error, after the load, as before
            continue
        if getattr(rt, "prefetch_availability", False):
            ahead.probes.append(_in_background(rt.unavailable_reason, f"prefetch-{name}"))
    return ahead


def _in_background(look_up, name: str) -> threading.Thread:
    """look_up() in a daemon thread (exiting does not wait for it) at a lower priority, which the processes it starts
    inherit: the model's load, on the critical path, keeps the CPU first. Its answer is whatever look_up caches."""

    def quietly() -> None:
        if sys.platform.startswith("linux"):  # a thread's own nice value, on Linux only (elsewhere: the process's)
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)
        with contextlib.suppress(Exception):  # not kept: the caller that needs it looks up again, gets the error
            look_up()

    thread = threading.Thread(target=quietly, name=name, daemon=True)
    thread.start()
    return thread


def blocker(rt, source_format: str, path: list[str] | None, signature, batch: int) -> tuple[str, str] | None:
    """Why a candidate cannot even be attempted, as (reason_class, reason), or None: the one wording of the rule for
    plain and compressed candidates (the runtime is not installed, no conversion path, a batch the model cannot take)."""
    unavailable = rt.unavailable_reason()
    if unavailable:
        return errors.NOT_INSTALLED, unavailable
    if path is None:
        return errors.CONVERSION_ERROR, f"no conversion path from {source_format} to {'/'.join(rt.formats)}"
    if not signature.supports_batch(batch):
        return errors.UNSUPPORTED_SHAPE, signature.batch_blocker(batch)
    return None


def plan(source_format: str, runtimes: list[str], threads: list[int], batches: list[int], signature,
         precisions: list[str] | None = None, isa_flags=None) -> list[Candidate]:
    """`precisions`: the --precision request (None: FP32 plus the reduced precisions native on a CPU with `isa_flags`,
    the host's by default); each runtime offers those among its own `precisions` (plan/precision.py)."""
    from edgepick.plan import precision as prec

    flags = prec.host_isa_flags() if isa_flags is None else isa_flags
    out = []
    for name in runtimes:
        rt = RUNTIMES.get(name)
        path = usable_path(source_format, rt.formats)
        for offered in prec.offers(rt.precisions, flags, precisions):
            precision = offered.precision
            for t in threads:
                for b in batches:
                    blocked = blocker(rt, source_format, path, signature, b)
                    if blocked and precision != prec.FP32:
                        continue  # the runtime's FP32 row already says why; one row per reason
                    support = offered.to_dict() if precision != prec.FP32 else None
                    out.append(Candidate(name, precision, t, b, path, blocked, precision_support=support))
    return out


def drop_for_platform(candidates: list[Candidate], platform: str) -> None:
    """Block every candidate whose runtime cannot deploy on `platform` (capability matrix), saying why and citing the source.

    The platform reason wins over 'not installed': a runtime that cannot ship there is irrelevant either way."""
    from edgepick.plan.capabilities import platform_verdict

    verdicts: dict[str, str | None] = {}
    for cand in candidates:
        if cand.runtime not in verdicts:
            verdicts[cand.runtime] = platform_verdict(cand.runtime, platform)
        if verdicts[cand.runtime]:
            cand.blocked = (errors.PLATFORM, f"dropped for --platform {platform}: {verdicts[cand.runtime]}")
