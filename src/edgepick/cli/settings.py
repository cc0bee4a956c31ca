"""`edgepick run`'s options -> one settings.Settings, part by part, through the same settings.build() as edgepick.pick().

The option strings are parsed here (lists, sizes, the LoadGen scenario, the frame loop); each part of Settings then
validates its values, so a mistake stops the command with one line before any work.
"""

from __future__ import annotations

from edgepick.core.job import TimingPolicy
from edgepick.sweep.settings import Settings, build


def settings_from_cli(p: dict, db_url: str) -> Settings:
    """`p`: the run command's parameters by name (typer's ctx.params)."""
    from edgepick.cli.compress import compress_options
    from edgepick.cli.realtime import realtime_options
    from edgepick.cli.rigor import rigor_options

    options = {**_workload(p), **_timing(p), **_target(p), "budget": p["budget"], "optimize": p["optimize"],
               "db_url": db_url, "force": p["force"], "exhaustive": p.get("exhaustive") or None,
               "trust_history": p.get("trust_history", False)}
    options |= rigor_options(p["scenario"], p["target_qps"], p["latency_bound_ms"], p["find_peak_qps"],
                             p["lg_min_duration"], p["lg_min_queries"], p["profile_ops"], p["cold_start"],
                             p["interleave"], p["noise_retry"], p["repeats"])
    options |= compress_options(options["precisions"], p["compress"], p["max_acc_drop"], p["metric"], p["calib"],
                                p["calib_size"], p["train_data"])
    options |= realtime_options(p["budget"], p["timeout"], p["preprocess"], p["postprocess"], p["fps"], p["deadline"],
                                p["frames"], p["reuse_frame"], p["background_load"], p["sustain"])
    return build(p["model"], device=p["device"], **options)


def _workload(p: dict) -> dict:
    from edgepick.core.units import parse_int_list
    from edgepick.plan.precision import parse_precisions

    runtimes = p["runtimes"]
    options = {"runtimes": [r.strip() for r in runtimes.split(",") if r.strip()] if runtimes else None,
               "batches": parse_int_list(p["batch"], "--batch"), "input_shape": p["input_shape"], "data": p["data"],
               "data_limit": p["data_limit"], "trust_pickle": p["trust_pickle"],
               "input_values": list(p["input_value"]) if p["input_value"] else None,
               "no_batch_axis": p["no_batch_axis"], "precisions": parse_precisions(p["precision"])}
    if p["threads"]:  # unset: the default, or the --device profile's threads
        options["threads"] = parse_int_list(p["threads"], "--threads")
    return options


def _timing(p: dict) -> dict:
    options = {"timing": TimingPolicy(warmup_count=p["warmup"], min_samples=p["min_samples"],
                                      min_duration_s=p["min_duration"])}
    if p["step_timeout"] is not None:  # unset: --timeout
        options["step_timeout_s"] = p["step_timeout"]
    return options


def _target(p: dict) -> dict:
    from edgepick.core.units import parse_int_list, parse_size

    cores = p["cores"]
    options = {"cores": parse_int_list(cores.replace(" ", ""), "--cores", minimum=0) if cores else None,  # ids from 0
               "memory_mechanism": p["memory_mechanism"], "platform": p["platform"], "on": p["on"],
               "cluster": p["cluster"]}
    if p["memory_limit"]:  # unset: none, or the --device profile's cap
        options["memory_limit"] = parse_size(p["memory_limit"])
    if p["step_memory_limit"]:  # unset: --memory-limit
        options["step_memory_limit"] = parse_size(p["step_memory_limit"], "--step-memory-limit")
    return options
