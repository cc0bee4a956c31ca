"""Reach on real models: per corpus model, how many of the runtimes agree with the source, and why each other one does not.

    python benchmarks/corpus.py fetch          # once (`make corpus`)
    python benchmarks/reach.py                 # every model; --only a,b for some; --runtimes x,y for some runtimes

Each model runs as `edgepick run MODEL --json` in its own process, with a short timing policy (reach is the question
here, not latency), one thread, batch 1, and EDGEPICK_HOME in a folder of its own, so nothing is reused from another
run. A model whose process dies, hangs or is refused is a row too ("parent crashed: <last line>"), never the end of the
benchmark. Options the CLI does not have yet (--input-value, fixed input values) are passed only when `edgepick run
--help` lists them, so the same script measures the code before and after a change.

Writes benchmarks/results/reach-<UTC timestamp>.json (every row and reason, the machine, the command) and .md (the
tables for benchmarks/README.md), and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus import Entry, is_intact, load  # noqa: E402  (benchmarks/ is not a package)
from reach_report import machine, render  # noqa: E402

RESULTS = Path(__file__).parent / "results"
# Quick timing: enough calls to see that a runtime runs and agrees; latency figures come from the other benchmarks.
TIMING = ["--threads", "1", "--batch", "1", "--min-duration", "0.2", "--min-samples", "10", "--warmup", "2"]
# Passed only where `edgepick run --help` lists them. Reach counts FP32 rows (the source's precision): BF16/FP16
# candidates, offered where the CPU has them, would triple the time and answer another question.
# --exhaustive: reach asks whether each runtime agrees, so every candidate is measured, none pruned by the search.
OPTIONAL = (("--no-noise-retry",), ("--exhaustive",), ("--precision", "fp32"))


def edgepick_cmd() -> list[str]:
    return [sys.executable, "-m", "edgepick.cli.main"]


def cli_options() -> str:
    """`edgepick run --help`, wide and plain, to see which options this version of the CLI has."""
    env = {**os.environ, "COLUMNS": "400", "TERM": "dumb", "NO_COLOR": "1"}
    try:
        done = subprocess.run(edgepick_cmd() + ["run", "--help"], capture_output=True, text=True, env=env, timeout=300)
    except subprocess.TimeoutExpired:
        return ""  # then no optional option is passed; each model's own run says what is wrong
    return done.stdout + done.stderr


def run_args(entry: Entry, help_text: str, candidate_timeout: float, runtimes: str | None,
             all_precisions: bool = False) -> list[str]:
    args = ["run", entry.source, "--json", "--force", "--timeout", str(candidate_timeout), *TIMING]
    for option in OPTIONAL if not all_precisions else OPTIONAL[:2]:
        if option[0] in help_text:
            args += list(option)
    if entry.input_shape:
        args += ["--input-shape", entry.input_shape]
    if entry.input_values and "--input-value" in help_text:
        for name, value in entry.input_values.items():
            args += ["--input-value", f"{name}={value}"]
    if entry.trust_pickle:
        args.append("--trust-pickle")
    if runtimes:
        args += ["--runtimes", runtimes]
    return args


def parse_run_json(stdout: str) -> dict | None:
    """The run's JSON: the last top-level object on stdout (a library may print before it)."""
    start = stdout.rfind('{\n  "schema"')
    if start < 0:
        return None
    try:
        return json.loads(stdout[start:])
    except json.JSONDecodeError:
        return None


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def first_line(text: str | None) -> str:
    for ln in (text or "").splitlines():
        if ln.strip():
            return ln.strip()
    return ""


def run_model(entry: Entry, args: list[str], home: Path, model_timeout: float) -> dict:
    """One model in its own process group (so a hang is killed with its workers); never raises."""
    home.mkdir(parents=True, exist_ok=True)
    pythonpath = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(Path(__file__).parent)) if p)
    env = {**os.environ, "EDGEPICK_HOME": str(home), "COLUMNS": "200", "PYTHONPATH": pythonpath}  # corpus_modules
    cmd = edgepick_cmd() + args
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=home,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=model_timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        timed_out = True
    seconds = round(time.monotonic() - t0, 1)
    (home / "stderr.txt").write_text(err)
    result = {"model": entry.name, "format": entry.format, "kind": entry.kind, "package": entry.requirement,
              "input_shape": entry.input_shape, "input_values": entry.input_values, "command": cmd[2:],
              "exit_code": proc.returncode, "seconds": seconds, "stderr_tail": err.splitlines()[-8:]}
    run = None if timed_out else parse_run_json(out)
    if run is None:
        result["outcome"] = _no_run_outcome(proc.returncode, timed_out, model_timeout, err or out)
        stored = stored_rows(home)  # rows a dead or killed run had already stored: nothing measured is lost
        result["runtimes"] = summarise_candidates(stored["candidates"]) if stored else {}
        result["run_id"] = stored.get("run_id") if stored else None
        return result
    result["outcome"] = "ran"
    result["run_id"] = run.get("run_id")
    result["runtimes"] = summarise_candidates(run["candidates"])
    result["precision_violations"] = precision_violations(run["candidates"])
    return result


def precision_violations(candidates: list[dict]) -> list | None:
    """(FP32 row rejected, lower-precision row of the same runtime passed) pairs: none may remain (issue 24).
    None where the edgepick measured has no such rule yet (a 'before' run of older code)."""
    try:
        from edgepick.measure.verdicts import violations
    except ImportError:
        return None
    return [list(pair) for pair in violations(candidates)]


# Runs in a fresh process with the model's EDGEPICK_HOME: reads the newest run's rows as the store kept them.
_READ_STORE = """
import json
from edgepick.core.paths import default_db_url
from edgepick.store.result import row_from_db
from edgepick.store.db import Store
runs = Store(default_db_url()).list_runs(1)
rows = [row_from_db(c) for c in runs[0].candidates] if runs else []
print(json.dumps({"run_id": runs[0].id if runs else None, "candidates": rows}, default=str))
"""


def stored_rows(home: Path) -> dict | None:
    """The rows the store holds for the model's run, or None (no store, no run, or the store cannot be read)."""
    if not (home / "results.db").exists():
        return None
    env = {**os.environ, "EDGEPICK_HOME": str(home)}
    try:
        done = subprocess.run([sys.executable, "-c", _READ_STORE], capture_output=True, text=True, env=env, timeout=120)
        data = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 and done.stdout.strip() else None
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError):
        return None
    return data if data and data["candidates"] else None


def _no_run_outcome(code: int, timed_out: bool, limit: float, text: str) -> str:
    if timed_out:  # with --json the run prints nothing until it ends, so there is seldom a last line to show
        return f"parent timed out after {limit:.0f} s" + (f": {last_line(text)}" if text.strip() else "")
    if code == 2:
        return f"refused: {last_line(text)}"
    return f"parent crashed (exit {code}): {last_line(text)}"


def summarise_candidates(candidates: list[dict]) -> dict[str, dict]:
    """Per runtime: agrees if any of its FP32 rows is ok; otherwise its first such row's reason class and root cause.

    Rows in other precisions (BF16/FP16 candidates) are kept in "rows" but do not count: a runtime that agrees only
    in BF16 does not run the model as given."""
    out: dict[str, dict] = {}
    has_fp32 = any(c.get("precision") == "fp32" for c in candidates)
    for c in candidates:
        rt = out.setdefault(c["runtime"], {"agrees": False, "rows": []})
        counts = c.get("precision") in (None, "fp32") or not has_fp32
        rt["rows"].append({"key": c["key"], "runtime": c["runtime"], "precision": c.get("precision"), "counts": counts,
                           "status": c["status"], "compression": c.get("compression"), "device": c.get("device"),
                           "reason_class": c.get("reason_class"), "reason": c.get("reason"),
                           "p50_ms": (c.get("latency_ms") or {}).get("p50"),
                           "max_abs_err": (c.get("equivalence") or {}).get("max_abs_err")})
        rt["agrees"] = rt["agrees"] or (counts and c["status"] == "ok")
    for rt in out.values():
        bad = next((r for r in rt["rows"] if r["counts"] and r["status"] != "ok"), None)
        if rt["agrees"]:
            rt["reason_class"] = rt["root_cause"] = None
        elif bad is None:
            rt["reason_class"], rt["root_cause"] = "no-fp32-row", "only reduced-precision rows"
        else:
            rt["reason_class"], rt["root_cause"] = bad["reason_class"] or bad["status"], first_line(bad["reason"])
    return out


def runtime_names() -> list[str]:
    """The registry's runtimes, asked in a child process: an edgepick that cannot even import is a row, not the end."""
    code = "from edgepick.core.registry import RUNTIMES; print(','.join(RUNTIMES.all()))"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return []
    return [n for n in done.stdout.strip().split(",") if n] if done.returncode == 0 else []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated corpus model names (default: all)")
    ap.add_argument("--runtimes", help="comma-separated runtimes (default: all)")
    ap.add_argument("--candidate-timeout", type=float, default=240.0, help="edgepick --timeout per candidate, s")
    ap.add_argument("--model-timeout", type=float, default=1800.0, help="kill a model's whole run after this many s")
    ap.add_argument("--home", help="folder for the per-model EDGEPICK_HOMEs (default: a new temporary folder)")
    ap.add_argument("--keep-home", action="store_true", help="keep each model's EDGEPICK_HOME (artifacts, stderr)")
    ap.add_argument("--out", default=str(RESULTS), help="where reach-<timestamp>.json/.md go")
    ap.add_argument("--all-precisions", action="store_true",
                    help="also the BF16/FP16 rows the CPU offers (reach still counts FP32; the rows are kept, so the "
                         "one-rule-across-precisions check covers them)")
    args = ap.parse_args(argv)

    entries = load()
    if args.only:
        entries = [e for e in entries if e.name in set(args.only.split(","))]
    missing = [e.name for e in entries if not is_intact(e)]
    if missing:
        print(f"not fetched or altered: {', '.join(missing)}; run `make corpus` first", file=sys.stderr)
        return 2
    home_root = Path(args.home or tempfile.mkdtemp(prefix="edgepick-reach-")).absolute()
    help_text = cli_options()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    report = {"schema": "edgepick.reach/1", "started_utc": stamp, "machine": machine(), "runtimes": runtime_names(),
              "input_value_option": "--input-value" in help_text, "timing": TIMING, "models": []}
    for i, entry in enumerate(entries, 1):
        print(f"[{i}/{len(entries)}] {entry.name} ({entry.format}) ...", file=sys.stderr, flush=True)
        home = home_root / entry.name
        result = run_model(entry, run_args(entry, help_text, args.candidate_timeout, args.runtimes,
                                           args.all_precisions), home, args.model_timeout)
        agree = sum(r["agrees"] for r in result["runtimes"].values())
        print(f"    {agree} agree, {result['seconds']} s, {result['outcome']}", file=sys.stderr, flush=True)
        report["models"].append(result)
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
        _write(report, Path(args.out), stamp)  # after every model: an interrupted benchmark keeps what it measured
    if not report["runtimes"]:  # the registry could not be read: the runtimes the rows name
        report["runtimes"] = sorted({rt for m in report["models"] for rt in m["runtimes"]})
    report["finished_utc"] = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    report["machine"]["load_average_end"] = os.getloadavg()
    report["machine"]["runtime_envs_end"] = machine()["runtime_envs"]  # another process may build one meanwhile
    md_path = _write(report, Path(args.out), stamp)
    print(md_path.read_text())
    return 0


def _write(report: dict, out: Path, stamp: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"reach-{stamp}.json").write_text(json.dumps(report, indent=1))
    md_path = out / f"reach-{stamp}.md"
    md_path.write_text(render(report))
    return md_path


if __name__ == "__main__":
    sys.exit(main())
