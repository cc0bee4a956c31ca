"""Expand a request into candidates: runtime x threads x batch, each with its conversion path."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgepick.core import errors
from edgepick.core.registry import RUNTIMES
from edgepick.inputs.validate import only_known
from edgepick.plan.formats import usable_path


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
