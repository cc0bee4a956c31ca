"""CLI pieces for measurement rigor: `run --scenario/--profile-ops/--cold-start/--interleave/--repeats`, `show --ops`."""

from __future__ import annotations

from edgepick.core.errors import UserError
from edgepick.core.job import LoadGenSettings


def rigor_options(scenario: str | None, target_qps: float | None, latency_bound_ms: float | None,
                  find_peak_qps: bool, lg_min_duration: float, lg_min_queries: int, profile_ops: int,
                  cold_start: int, interleave: int, noise_retry: bool, repeats: int = 1) -> dict:
    """The settings.Rigor fields from the options; the LoadGen combination is checked here (one clear line)."""
    loadgen = None

    if scenario:
        settings = LoadGenSettings(scenario=scenario, min_duration_s=lg_min_duration, min_queries=lg_min_queries,
                                   target_qps=target_qps, latency_bound_ms=latency_bound_ms, find_peak=find_peak_qps)
        if find_peak_qps and settings.scenario != "Server":
            raise UserError("--find-peak-qps searches Server QPS: use it with --scenario Server")
        loadgen = settings.to_dict()
    elif target_qps or latency_bound_ms or find_peak_qps:
        raise UserError("--target-qps, --latency-bound-ms and --find-peak-qps need --scenario Server")
    return {"scenario": loadgen, "profile_runs": profile_ops, "cold_start": cold_start, "interleave": interleave,
            "noise_retry": noise_retry, "repeats": repeats}  # the counts are checked by settings.Rigor


def print_ops(run, console, top: int = 5) -> None:
    """Per row: the top op families (and ops) from the runtime's profiler, roofline, energy, noise, LoadGen."""
    from edgepick.report.rigor import rigor_lines

    console.print(f"[bold]run {run.run_id} · {run.model_name}: where the time goes[/]")
    for line in rigor_lines(run.rows, top=top, ops=True):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def peak_cmd(threads: str = "1,2", refresh: bool = False) -> None:
    """The machine's measured peak (FP32 GFLOP/s, INT8 GOP/s, memory GB/s), cached per machine fingerprint."""
    from edgepick.core.units import parse_int_list
    from edgepick.rigor.peak import peak

    for t in parse_int_list(threads, "--threads"):
        p = peak(t, refresh=refresh)
        cached = "cached" if p.get("cached") else "measured now"
        print(f"{t} threads: FP32 {p['fp32_gflops']:.1f} GFLOP/s, INT8 {p['int8_gops']:.1f} GOP/s, "
              f"memory {p['bandwidth_gbps']:.1f} GB/s ({cached} {p['measured_at']}; {p['method']})")
        if p.get("busy_warning"):
            print(f"  warning: {p['busy_warning']}")


def register(app) -> None:
    app.command("peak")(peak_cmd)
