"""One reach table from several reach runs: a full run split over processes (`reach.py --only ...` on each core), or a
model re-run after a fix. Per model the run listed last wins; the header names every run, its commit and its load.
A run limited to some runtimes (`reach.py --runtimes a,b`) replaces only those runtimes' cells of its models: each
such cell says which run it came from, and the header lists the runtimes each run contributed.

    python benchmarks/reach_merge.py results/reach-A.json results/reach-B.json [--out benchmarks/results]

Writes reach-<first run's stamp>-merged.json/.md and prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from corpus import load  # noqa: E402
from reach_report import render  # noqa: E402


def merge(reports: list[dict]) -> dict:
    """The first report's header, every model's row from the last report that has it, in corpus order; a report of
    fewer runtimes than the first replaces only its runtimes' cells of a model an earlier report has."""
    by_model: dict[str, dict] = {}
    everything = set(reports[0]["runtimes"])
    for report in reports:
        for m in report["models"]:
            earlier, ran = by_model.get(m["model"]), _ran(report, m)
            if not everything <= ran and earlier is not None and m["outcome"] == "ran":
                by_model[m["model"]] = _with_cells(earlier, m, report, ran)
            else:
                by_model[m["model"]] = m
    order = [e.name for e in load()]
    models = sorted(by_model.values(), key=lambda m: order.index(m["model"]) if m["model"] in order else len(order))
    runtimes = sorted({rt for r in reports for rt in r["runtimes"]}, key=lambda rt: reports[0]["runtimes"].index(rt)
                      if rt in reports[0]["runtimes"] else 99)
    merged = {**reports[0], "models": models, "runtimes": runtimes,
              "merged_from": [part for r in reports for part in _parts(r, everything)]}
    merged["machine"] = {k: v for k, v in reports[0]["machine"].items() if k != "load_average_end"}
    return merged


def _parts(r: dict, everything: set[str]) -> list[dict]:
    """The runs a report is made of: itself, or the parts of an earlier merge (their provenance kept)."""
    if "merged_from" in r:
        return r["merged_from"]
    only = _ran(r, r["models"][0]) if r["models"] else everything
    return [{"started_utc": r["started_utc"], "finished_utc": r.get("finished_utc"), "edgepick": r["machine"]["edgepick"],
             "load_average_start": r["machine"]["load_average_start"],
             "load_average_end": r["machine"].get("load_average_end"), "models": [m["model"] for m in r["models"]],
             **({"only_runtimes": sorted(only)} if not everything <= only else {})}]


def _ran(report: dict, model: dict) -> set[str]:
    """The runtimes a model's run was asked for: its command's --runtimes, else every runtime of the report."""
    command = model.get("command") or []
    if "--runtimes" in command:
        return set(command[command.index("--runtimes") + 1].split(","))
    return set(report["runtimes"])


def _with_cells(earlier: dict, later: dict, report: dict, mine: set[str]) -> dict:
    """`earlier` with the cells of the runtimes `mine` replaced by `later`'s, each marked with its run."""
    cells = {rt: cell for rt, cell in earlier["runtimes"].items() if rt not in mine}
    cells |= {rt: {**cell, "from_run": report["started_utc"]} for rt, cell in later["runtimes"].items() if rt in mine}
    violations = None  # unchecked unless both runs had the rule (older rows predate it and lack what it reads)
    if earlier.get("precision_violations") is not None and later.get("precision_violations") is not None:
        kept = [v for v in earlier.get("precision_violations") or [] if v[0].split("/")[0] not in mine]
        violations = kept + list(later.get("precision_violations") or [])
    return {**earlier, "runtimes": cells, "precision_violations": violations}


def header(merged: dict) -> str:
    lines = ["Merged from these runs (per model, the later run listed wins; a run of some runtimes replaces only "
             "those cells):", ""]
    for part in merged["merged_from"]:
        commit = part["edgepick"]["commit"][:10] or "(commit unknown)"
        load = ", ".join(f"{x:.2f}" for x in part["load_average_start"])
        end = ", ".join(f"{x:.2f}" for x in part["load_average_end"]) if part["load_average_end"] else "(interrupted)"
        only = f" (runtimes {', '.join(part['only_runtimes'])} only)" if part.get("only_runtimes") else ""
        lines.append(f"- run {part['started_utc']} at edgepick {commit}, load at start {load}, at end {end}{only}: "
                     f"{', '.join(part['models'])}")
    return "\n".join(lines) + "\n\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="reach-*.json files, earliest first")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    merged = merge([json.loads(p.read_text()) for p in args.runs])
    stamp = f"{merged['started_utc']}-merged"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"reach-{stamp}.json").write_text(json.dumps(merged, indent=1))
    text = header(merged) + render(merged)
    (args.out / f"reach-{stamp}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
