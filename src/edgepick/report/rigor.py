"""Text for the measurement-rigor fields of a row: LoadGen verdicts, op families, roofline, energy, noise, cold start.

Shared by the terminal report (printed under the table), `edgepick show RUN --ops` and the Markdown report, so the
wording (e.g. the word "estimate" on an energy estimate) is decided in one place.
"""

from __future__ import annotations

from edgepick.measure import noise


def roofline_text(row: dict) -> str | None:
    rf = row.get("roofline")
    if not rf:
        return None
    if rf.get("unavailable"):
        return f"roofline: unavailable ({rf['unavailable']})"
    text = (f"{rf['achieved_gflops']:.2f} GFLOP/s achieved = {rf['pct_of_peak']:.1f}% of the measured {rf['peak_kind']} "
            f"peak {rf['peak']:.1f} at {rf['threads']} threads")
    if (rf.get("pct_of_peak") or 0) > 100:  # re-measured once already (rigor.annotate_roofline): say so rather than hide it
        text += " (ABOVE the measured peak: this runtime's kernels beat the GEMM micro-benchmark here)"
    if rf.get("pct_of_roofline") is not None:
        text += f" ({rf['pct_of_roofline']:.0f}% of the roofline bound {rf['attainable_gflops']:.1f}"
        # the bound counts every op's bytes as DRAM traffic; a model that stays in cache can beat it
        text += ": above it, the working set stays in cache)" if rf["pct_of_roofline"] > 100 else ")"
    if rf.get("memory_bound_families"):
        text += f"; memory-bound families: {', '.join(rf['memory_bound_families'])}"
    text += f" [{rf['graph_macs_per_item']:.3g} MACs/item, 1 MAC = 2 FLOPs]"
    return text + (f" (peak {rf['peak_warning']})" if rf.get("peak_warning") else "")


def ops_text(row: dict, top: int = 5, ops: bool = False) -> list[str]:
    prof = row.get("op_profile")
    if not prof:
        return []
    if not prof.get("available"):
        return [f"op profile: unavailable ({prof.get('why')})"]
    fams = ", ".join(f"{f['family']} {f['share'] * 100:.0f}%" for f in prof["families"][:top])
    lines = [f"op families ({prof['tool']}, {prof['total_ms']:.3f} ms profiled/inference): {fams}"]
    if ops:
        for op in prof["ops"][:top]:
            lines.append(f"    {op['ms']:.4f} ms  {op['family']:<14} {op['op_type']:<22} {op['name']}")
    return lines


def noise_text(row: dict) -> str | None:
    info = row.get("noise")
    if not info:
        return None
    parts = []
    if info.get("extended"):
        width, first = info.get("first_ci_halfwidth"), info.get("first_robust_cv")  # a row stored before: no width
        parts.append("re-measured with a longer steady state" + (
            f" (the first window's median CI +-{width * 100:.1f}%)" if width is not None
            else f" (first robust CV {first * 100:.0f}%)" if first is not None else ""))
    warnings = info.get("warnings") or []
    steady = [w for w in warnings if w.startswith(noise.STEADY_MEDIAN)]  # a tail or a spread around a steady median
    if len(steady) < len(warnings):
        parts.append("noisy: " + "; ".join(w for w in warnings if w not in steady))
    for label, prefix in (("spread", noise.SPREAD), ("tail", noise.TAIL)):
        said = [w for w in steady if w.startswith(prefix)]
        if said:
            parts.append(f"{label}: " + "; ".join(said))
    return ", ".join(parts) or None


def shared_text(row: dict) -> str | None:
    """Where a row was measured in a worker shared with its runtime's other configurations (launch/grouped.py)."""
    shared = (row.get("probe") or {}).get("shared_worker")
    if not shared:
        return None
    others = shared["members"] - 1
    text = (f"measured in one worker with this runtime's {others} other configuration(s), {shared['position']} of "
            f"{shared['members']}: the import paid once, peak RSS reset for it" if others else "")
    beside = shared.get("imported_beside")
    if beside is not None:  # the import ran before the job came, side by side with other workers' imports
        text += ("; " if text else "") + (f"its framework imported ahead, beside {beside} other worker(s) importing "
                                          "theirs (import_s was taken so)" if beside else "its framework imported ahead")
    if shared.get("prepared_ahead"):  # load and first inference too (a lazy compiler's build), before its turn
        text += "; loaded and first run ahead too (load_s, compile_s and the first inference were taken so)"
    return text or None


def median_ci_text(row: dict) -> str | None:
    """The median's 95% CI and where it comes from; with --repeats, every process's median too."""
    from edgepick.measure.noise import best_ci

    lat = row.get("latency_ms")
    if not lat:
        return None
    (lo, hi), how = best_ci(lat)
    text = f"p50 {lat['p50']:.4g} ms, 95% CI {lo:.4g}-{hi:.4g} ({how})"
    procs = lat.get("processes")
    if procs:
        text += (f"; per-process p50 {', '.join(f'{m:.4g}' for m in procs['p50_ms'])} ms, "
                 f"spread {procs['spread_pct']:.1f}%")
    for failure in row.get("repeat_failures") or []:
        text += f"; {failure}"
    return text


def interleave_text(row: dict) -> str | None:
    v = row.get("interleaved")
    if not v or not v.get("rounds"):
        return None
    return (f"interleaved {v['a']} vs {v['b']} over {v['rounds']} A-B rounds: B faster in {v['b_wins']}/{v['rounds']}, "
            f"median ratio B/A {v['median_ratio_b_over_a']:.3f}, sign test p={v['sign_test_p']:.2f} -> {v['verdict']}")


def compile_text(row: dict) -> str | None:
    """A lazy compiler's first-call build, and whether Inductor's cache had it (runtimes/torch_compile.py)."""
    seconds = row.get("compile_s")
    if seconds is None:
        return None
    cache = (row.get("runtime_details") or {}).get("inductor_cache")
    if not cache:
        return f"compiled on its first call in {seconds:.1f} s"
    hits, misses = (sum(c[w] for c in cache.values()) for w in ("hit", "miss"))
    how = ("a hit in Inductor's cache from an earlier process; a fresh machine builds it cold" if hits and not
           cache["fx_graph"]["miss"] else "a cold build" if misses else "no cache consulted")
    return f"compiled on its first call in {seconds:.1f} s ({how})"


def row_lines(row: dict, top: int = 5, ops: bool = False) -> list[str]:
    lines = [row["device"]["latency_label"]] if (row.get("device") or {}).get("latency_label") else []  # issue 13
    if row.get("loadgen"):
        res = row["loadgen"]
        lines.append(f"LoadGen {res['error']}" if res.get("error") else "LoadGen " + loadgen_text(res))
    lines += ops_text(row, top, ops)
    for text in (median_ci_text(row), compile_text(row), roofline_text(row), noise_text(row), interleave_text(row),
                 shared_text(row)):
        if text:
            lines.append(text)
    if row.get("energy"):
        lines.append("energy " + energy_text(row["energy"]))
    if row.get("cold_start"):
        lines.append(cold_start_text(row["cold_start"]))
    from edgepick.report.realtime import realtime_lines

    return lines + realtime_lines(row)


def rigor_lines(rows: list[dict], top: int = 5, ops: bool = False) -> list[str]:
    out = []
    for row in rows:
        lines = row_lines(row, top, ops)
        if lines:
            out.append(f"{row['key']}:")
            out += [f"  {ln}" for ln in lines]
    return out


def loadgen_text(result: dict) -> str:
    """One line: 'SingleStream: 90.0th percentile latency (ms) 0.123; INVALID (Early stopping satisfied: NO); not compliant'."""
    m = result.get("metric") or {}
    value = "-" if m.get("value") is None else f"{m['value']:.4g}"
    text = f"{result.get('scenario')}: {m.get('name')} {value}; {result.get('validity')}"
    if result.get("reasons"):
        text += f" ({'; '.join(result['reasons'])})"
    peak = result.get("peak_search")
    if peak:
        got = "none" if peak["peak_qps"] is None else f"{peak['peak_qps']:.1f} QPS"
        text += f"; peak under p99 <= {peak['latency_bound_ms']:.3g} ms: {got}"
    return text + "; not a compliant run"


def cold_start_text(cold: dict | None) -> str:
    if not cold or not cold.get("phases_ms"):
        return "-"
    parts = [f"{label} {s['median']:.1f} [{s['min']:.1f}-{s['max']:.1f}]" for label, s in cold["phases_ms"].items()]
    return f"cold start x{cold['ok']}: " + ", ".join(parts) + " (median [min-max])"


def energy_text(energy: dict | None) -> str:
    """'0.123 mJ/inference (measured, RAPL)' or '0.123 mJ/inference (estimate)': the only way outputs print energy."""
    if not energy or energy.get("mj_per_inference") is None:
        return "-"
    value = f"{energy['mj_per_inference']:.3g} mJ/inference"
    if energy.get("kind") == "measured":
        source = "RAPL" if str(energy.get("source", "")).startswith("RAPL") else "board hwmon"
        return f"{value} (measured, {source}){_sensors_text(energy.get('sensors'))}"
    return f"{value} (estimate){_sensors_text(energy.get('sensors'))}"


def _sensors_text(sensors: dict | None) -> str:
    """'; CPU 2400->1800 MHz, 51->74 C' when the CPU's clock or temperature was readable around the steady state."""
    if not sensors or not sensors.get("before"):
        return ""
    before, after = sensors["before"], sensors.get("after") or {}
    parts = []
    if before.get("cpu_mhz") and after.get("cpu_mhz"):
        parts.append(f"CPU {before['cpu_mhz']:.0f}->{after['cpu_mhz']:.0f} MHz")
    hot0, hot1 = max((before.get("thermal_c") or {}).values(), default=None), max((after.get("thermal_c") or {}).values(), default=None)
    if hot0 is not None and hot1 is not None:
        parts.append(f"{hot0:.0f}->{hot1:.0f} C (hottest zone)")
    return f"; {', '.join(parts)}" if parts else ""
