"""Measurement-rigor figures (issue 6): LoadGen verdicts, op families per runtime, % of measured peak, run-to-run
agreement. Prints Markdown; each section can be run alone.

    .venv/bin/python benchmarks/rigor.py loadgen      # digits-cnn on ORT: SingleStream and Server (+ peak QPS search)
    .venv/bin/python benchmarks/rigor.py ops          # mobilenetv2-like: top-5 op families per runtime, % of peak
    .venv/bin/python benchmarks/rigor.py agreement    # two runs of the same sweep (--repeats 5): medians inside each other's CI
                                                      # (env RIGOR_REPEATS=10, RIGOR_MODELS=mobilenetv2-like)
    .venv/bin/python benchmarks/rigor.py              # all three

Uses a throw-away EDGEPICK_HOME unless one is set. Short LoadGen settings: every verdict says it is not compliant.
"""

from __future__ import annotations

import os
import sys
import tempfile

from edgepick.report.rigor import loadgen_text as describe
from edgepick.report.rigor import ops_text, roofline_text
from edgepick.sweep.scheduler import Request, execute
from edgepick.worker.latency import TimingPolicy
from edgepick.worker.loadgen import LoadGenSettings

TIMING = TimingPolicy(warmup_count=10, warmup_s=0.3, min_samples=100, min_duration_s=2.0)


def loadgen_section() -> list[str]:
    out = ["## LoadGen: digits-cnn on onnxruntime (1 thread)", ""]
    for scenario in (LoadGenSettings("SingleStream", min_duration_s=10, min_queries=1024),
                     LoadGenSettings("Server", min_duration_s=10, min_queries=1024, target_qps=10_000),
                     LoadGenSettings("Server", min_duration_s=5, min_queries=1024, find_peak=True)):
        run = execute(Request(model="digits-cnn", runtimes=["onnxruntime"], threads=[1], timing=TIMING,
                              scenario=scenario.to_dict(), force=True))
        res = run.rows[0].get("loadgen") or {}
        out.append(f"- `{run.run_id}` {describe(res) if 'error' not in res else res['error']}")
        for note in res.get("notes", []):
            out.append(f"  - LoadGen: {note}")
        out.append(f"  - compliance: {'; '.join(res.get('compliance', {}).get('why_not', []))}")
        if res.get("capacity_qps"):
            out.append(f"  - capacity from a short LoadGen Offline run: {res['capacity_qps']:.0f} QPS; "
                       f"p99 bound {res['settings']['latency_bound_ms']:.3g} ms")
        for probe in (res.get("peak_search") or {}).get("probes", []):
            out.append(f"  - probe {probe['target_qps']:.0f} QPS: p99 {probe['p99_ms']:.3f} ms, "
                       f"meets bound {probe['meets_p99_bound']}, {probe['validity']}")
    return out


def ops_section() -> list[str]:
    run = execute(Request(model="mobilenetv2-like", runtimes=["onnxruntime", "openvino", "litert", "torch-eager",
                                                             "torchscript", "torch-compile"], threads=[2],
                          timing=TIMING, profile_runs=30, force=True))
    out = [f"## Op families and % of measured peak: mobilenetv2-like, 2 threads (run `{run.run_id}`)", ""]
    for row in run.rows:
        out.append(f"- **{row['runtime']}** ({row['status']}) p50 {(row.get('latency_ms') or {}).get('p50', float('nan')):.3f} ms")
        out += [f"  - {line}" for line in ops_text(row, top=5)]
        if roofline_text(row):
            out.append(f"  - {roofline_text(row)}")
    return out


def agreement_section(models=("digits-cnn", "mobilenetv2-like"), runtimes=("onnxruntime", "openvino", "litert")) -> list[str]:
    """Two runs of the same sweep, each with --repeats R (env RIGOR_REPEATS, default 5): is each run's median inside
    the other run's between-process CI? The one-process intervals are shown too, to show why they are not enough."""
    r = int(os.environ.get("RIGOR_REPEATS", "5"))
    models = tuple(os.environ["RIGOR_MODELS"].split(",")) if os.environ.get("RIGOR_MODELS") else models
    out = [f"## Run-to-run agreement: two runs of the same sweep, 1 thread, {r} fresh processes per candidate", "",
           "CIs of the median: between processes (t-interval over the per-process medians, rigor/repeats.py; the "
           "one edgepick uses), and, for comparison, the first process's own order-statistic and batch-median CIs.", "",
           "Mutual containment is a strict test: even for two runs of one distribution with exact 95% intervals of equal "
           "width, each median lands inside the other's interval only with P(|Z| < 1.96/sqrt 2) = 83%. The Welch t-test "
           "on the two runs' process medians says whether the difference is more than that chance.", "",
           "| model | candidate | run 1 p50 [process CI] ms | run 2 p50 [process CI] ms | difference | inside each "
           "other's process CI | Welch t-test on process medians | per-process spread run 1 / run 2 | inside each other's "
           "one-process CI (order stat. / batch) |", "|---|---|---|---|---|---|---|---|---|"]
    for model in models:
        runs = [execute(Request(model=model, runtimes=list(runtimes), threads=[1], timing=TIMING, force=True,
                                noise_retry=False, repeats=r)) for _ in range(2)]
        second = {row["key"]: row for row in runs[1].rows}
        for a in runs[0].rows:
            b = second.get(a["key"])
            if a["status"] != "ok" or not b or b["status"] != "ok":
                why = a.get("reason") or (b or {}).get("reason")
                out.append(f"| {model} | {a['key']} | {a['status']} | {(b or {}).get('status')} | - | - | - | - | {why} |")
                continue
            la, lb = a["latency_ms"], b["latency_ms"]
            diff = 100 * (lb["p50"] - la["p50"]) / la["p50"]
            within = [_inside(_first(la), _first(lb), ci) for ci in ("p50_ci95", "p50_ci95_batches")]
            spread = f"{la['processes']['spread_pct']:.1f}% / {lb['processes']['spread_pct']:.1f}%"
            out.append(f"| {model} | {a['key']} | {_ci(la)} | {_ci(lb)} | {diff:+.1f}% | "
                       f"{_inside(la, lb, 'p50_ci95_processes')} | {_welch(la, lb)} | {spread} | {' / '.join(within)} |")
        out.append(f"| {model} | runs `{runs[0].run_id}`, `{runs[1].run_id}` | | | | | | | |")
    return out


def _welch(la: dict, lb: dict) -> str:
    """Welch's t on the two runs' per-process medians: 'same' when |t| is under the 95% two-sided critical value."""
    import statistics

    from edgepick.rigor.repeats import t975

    a, b = la["processes"]["p50_ms"], lb["processes"]["p50_ms"]
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return "-"
    t = (statistics.fmean(b) - statistics.fmean(a)) / (va + vb) ** 0.5
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch-Satterthwaite
    crit = t975(max(1, int(df)))  # rounding df down keeps the test conservative
    return f"t={t:+.2f} (df {df:.1f}, crit {crit:.2f}): {'no difference' if abs(t) < crit else 'DIFFERENT'}"


def _first(lat: dict) -> dict:
    """The first process's own figures (before the repeats were combined)."""
    procs = lat.get("processes") or {}
    return dict(lat, p50=procs["p50_ms"][0], p50_ci95=lat["p50_ci95_within"]) if procs else lat


def _ci(lat: dict) -> str:
    lo, hi = lat.get("p50_ci95_processes") or lat["p50_ci95"]
    return f"{lat['p50']:.4f} [{lo:.4f}, {hi:.4f}]"


def _inside(la: dict, lb: dict, ci: str) -> str:
    if not la.get(ci) or not lb.get(ci):
        return "-"
    ok = la[ci][0] <= lb["p50"] <= la[ci][1] and lb[ci][0] <= la["p50"] <= lb[ci][1]
    return "yes" if ok else "NO"


def main(argv: list[str]) -> int:
    os.environ.setdefault("EDGEPICK_HOME", tempfile.mkdtemp(prefix="edgepick-rigor-"))
    sections = {"loadgen": loadgen_section, "ops": ops_section, "agreement": agreement_section}
    chosen = argv or list(sections)
    for name in chosen:
        print("\n".join(sections[name]()) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
