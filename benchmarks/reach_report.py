"""The machine a reach run ran on, and its Markdown tables (benchmarks/reach.py writes them beside the JSON)."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from pathlib import Path

# The CPU features that change what a runtime computes or how fast (issue 10: BF16/AMX defaults, VNNI for INT8).
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
SHORT = {"conversion-error": "conv", "load-error": "load", "runtime-error": "run", "unsupported-shape": "shape",
         "crash": "crash", "timeout": "time", "oom": "oom", "nan-outputs": "nan", "disagrees": "disagree",
         "not-installed": "n/i", "platform": "plat"}


def machine() -> dict:
    cpu, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        cpu = platform.processor()
    return {"cpu": cpu, "flags": {f: f in flags for f in FLAGS}, "logical_cores": os.cpu_count(),
            "load_average_start": os.getloadavg(), "python": platform.python_version(), "edgepick": _edgepick_source(),
            "runtime_envs": _envs()}


def _edgepick_source() -> dict:
    try:
        import edgepick
    except Exception as e:  # noqa: BLE001  (a broken checkout is still measured: every model becomes a crash row)
        return {"path": None, "commit": "", "dirty": False, "import_error": f"{type(e).__name__}: {e}"}
    repo = Path(edgepick.__file__).resolve().parents[2]
    def git(*a: str) -> str:
        done = subprocess.run(["git", "-C", str(repo), *a], capture_output=True, text=True)
        return done.stdout.strip()
    return {"path": str(repo), "commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "src"))}


def _envs() -> list[str]:
    """The per-runtime venvs present (edgepick env create): without onnx2tf's, LiteRT has no path from ONNX."""
    try:
        from edgepick.core.envs import MARKER, root

        return sorted(p.name for p in root().iterdir() if (p / MARKER).is_file())
    except Exception:  # noqa: BLE001  (no envs folder, or an edgepick that does not import)
        return []


def _cell(text: str | None, limit: int = 180) -> str:
    text = (text or "").replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _precision_line(report: dict) -> str:
    """Issue 24: no FP32 row of a runtime rejected while a lower-precision row of that runtime passes."""
    checked = [m for m in report["models"] if m.get("precision_violations") is not None]
    if not checked:
        return "One rule across precisions: not checked (this edgepick predates it)."
    pairs = [f"{m['model']}: {a} beside {b}" for m in checked for a, b in m["precision_violations"]]
    reduced = sum(1 for m in checked for rt in m["runtimes"].values() for r in rt["rows"] if r["precision"] != "fp32")
    return (f"One rule across precisions: {len(pairs)} FP32 rows rejected beside a passing lower-precision row of their "
            f"runtime, over {len(checked)} models and {reduced} BF16/FP16 rows" + (f" ({'; '.join(pairs)})" if pairs else "")
            + ".")


def agree_counts(report: dict) -> list[int]:
    return [sum(r["agrees"] for r in m["runtimes"].values()) for m in report["models"]]


def render(report: dict) -> str:
    names = report["runtimes"]
    counts = agree_counts(report)
    mach = report["machine"]
    flags = ", ".join(f for f, on in mach["flags"].items() if on) or "none of " + ", ".join(mach["flags"])
    lines = [f"Reach run {report['started_utc']} UTC on {mach['cpu']} ({mach['logical_cores']} logical cores; {flags}); "
             f"edgepick {mach['edgepick']['commit'][:10] or '(commit unknown)'}{' + local changes' if mach['edgepick']['dirty'] else ''}; "
             f"runtime envs: {', '.join(mach['runtime_envs']) or 'none'}; load average at start "
             f"{', '.join(f'{x:.2f}' for x in mach['load_average_start'])}"
             + (f", at end {', '.join(f'{x:.2f}' for x in mach['load_average_end'])}" if "load_average_end" in mach else "")
             + f"; --input-value passed: {'yes' if report['input_value_option'] else 'no (the CLI has no such option)'}.",
             "", f"Median agreeing runtimes: {statistics.median(counts) if counts else 0:g} of {len(names)} "
             f"(over {len(counts)} models).", "", _precision_line(report), "",
             "| model | format | kind | agree | runtimes that agree | s |", "|---|---|---|---|---|---|"]
    for m, n in zip(report["models"], counts):
        ok = ", ".join(rt for rt in names if m["runtimes"].get(rt, {}).get("agrees"))
        which = ok or "-" if m["outcome"] == "ran" else "; ".join(filter(None, [ok, _cell(m["outcome"], 120)]))
        lines.append(f"| {m['model']} | {m['format']} | {m['kind'].split(' (')[0]} | {n}/{len(names)} | {which} | "
                     f"{m['seconds']:.0f} |")
    lines += ["", "Per runtime (ok = agrees; otherwise the reason class; - = no row):", "",
              "| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for m in report["models"]:
        cells = [_matrix_cell(m, rt) for rt in names]
        lines.append(f"| {m['model']} | " + " | ".join(cells) + " |")
    lines += ["", "Why each other runtime does not agree (the row's reason class and the first line of its reason):", "",
              "| model | runtime | class | root cause |", "|---|---|---|---|"]
    for m in report["models"]:
        if m["outcome"] != "ran":  # then the rows it had stored before it died, if any
            verdict, _, cause = m["outcome"].partition(": ")
            lines.append(f"| {m['model']} | (the run) | {verdict} | {_cell(cause)} |")
        for rt in names:
            r = m["runtimes"].get(rt)
            if r and not r["agrees"]:
                lines.append(f"| {m['model']} | {rt} | {r['reason_class']} | {_cell(r['root_cause'])} |")
    return "\n".join(lines) + "\n"


def _matrix_cell(m: dict, runtime: str) -> str:
    r = m["runtimes"].get(runtime)
    if r is None and m["outcome"] != "ran":  # no row: the run died, hung or was refused before this runtime
        return "crash" if "crashed" in m["outcome"] else ("time" if "timed out" in m["outcome"] else "refused")
    if r is None:
        return "-"
    return "ok" if r["agrees"] else SHORT.get(r["reason_class"] or "", r["reason_class"] or "?")
