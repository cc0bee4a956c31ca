"""Measurement-rigor figures (issue 6): LoadGen verdicts, op families per runtime, % of measured peak, run-to-run
agreement. Prints Markdown; each section can be run alone.

    .venv/bin/python benchmarks/rigor.py loadgen      # digits-cnn on ORT: SingleStream and Server (+ peak QPS search)
    .venv/bin/python benchmarks/rigor.py ops          # mobilenetv2-like: top-5 op families per runtime, % of peak
    .venv/bin/python benchmarks/rigor.py agreement    # two runs of the same sweep: medians inside each other's CI
    .venv/bin/python benchmarks/rigor.py              # all three

Uses a throw-away EDGEPICK_HOME unless one is set. Short LoadGen settings: every verdict says it is not compliant.
"""

from __future__ import annotations

import os
import sys
import tempfile

from edgepick.measure.latency import TimingPolicy
from edgepick.measure.loadgen import LoadGenSettings, describe
from edgepick.report.rigor import ops_text, roofline_text
from edgepick.sweep import Request, execute

TIMING = TimingPolicy(warmup_count=10, warmup_s=0.3, min_samples=100, min_duration_s=2.0)


def loadgen_section() -> list[str]:
    out = ["## LoadGen: digits-cnn on onnxruntime (1 thread)", ""]
    for scenario in (LoadGenSettings("SingleStream", min_duration_s=10, min_queries=1024),
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
    run = execute(Request(model="mobilenetv2-like", runtimes=["onnxruntime", "openvino", "torch-eager"], threads=[2],
                          timing=TIMING, profile_runs=30, force=True))
    out = [f"## Op families and % of measured peak: mobilenetv2-like, 2 threads (run `{run.run_id}`)", ""]
    for row in run.rows:
        out.append(f"- **{row['runtime']}** ({row['status']}) p50 {(row.get('latency_ms') or {}).get('p50', float('nan')):.3f} ms")
        out += [f"  - {line}" for line in ops_text(row, top=5)]
        if roofline_text(row):
            out.append(f"  - {roofline_text(row)}")
    return out


def agreement_section(models=("digits-cnn", "mobilenetv2-like")) -> list[str]:
    out = ["## Run-to-run agreement: two runs of the same sweep (1 thread, no noise re-run)", "",
           "Two CIs per median: order statistics of all samples (assumes independent samples) and batch medians "
           "(20 consecutive chunks: covers drift within a run; latency.batch_median_ci).", "",
           "| model | candidate | run 1 p50 [CI] [batch CI] ms | run 2 p50 [CI] [batch CI] ms | difference | "
           "inside each other's CI | inside each other's batch CI |", "|---|---|---|---|---|---|---|"]
    for model in models:
        runs = [execute(Request(model=model, runtimes=["onnxruntime", "openvino"], threads=[1], timing=TIMING,
                                force=True, noise_retry=False)) for _ in range(2)]
        second = {r["key"]: r for r in runs[1].rows}
        for a in runs[0].rows:
            b = second.get(a["key"])
            if a["status"] != "ok" or not b or b["status"] != "ok":
                continue
            la, lb = a["latency_ms"], b["latency_ms"]
            diff = 100 * (lb["p50"] - la["p50"]) / la["p50"]
            verdicts = [_inside(la, lb, ci) for ci in ("p50_ci95", "p50_ci95_batches")]
            out.append(f"| {model} | {a['key']} | {_cis(la)} | {_cis(lb)} | {diff:+.1f}% | {' | '.join(verdicts)} |")
    return out


def _cis(lat: dict) -> str:
    b = lat.get("p50_ci95_batches") or [float("nan")] * 2
    return f"{lat['p50']:.4f} [{lat['p50_ci95'][0]:.4f}, {lat['p50_ci95'][1]:.4f}] [{b[0]:.4f}, {b[1]:.4f}]"


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
