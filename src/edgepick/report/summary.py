"""The answer first: the short default output of `edgepick run` and `edgepick show RUN`.

The pick with its figure and confidence interval, the few runner-ups as "x.xx ± y times slower" (as hyperfine ends),
one line per group of rows that did not compete (failed, disagreeing, pruned, over the budget, other batch sizes),
and where to see more. The full table and the per-row blocks are `show --wide` / `--details` (report/table.py).
Every line is written to fit 100 columns; a longer one wraps at a word (rich), it is never cut.
"""

from __future__ import annotations

import math
import sys
import textwrap

from rich.console import Console
from rich.text import Text

from edgepick.core.rows import device_of, emulated
from edgepick.measure.noise import best_ci
from edgepick.report.selection import device_line, pick_estimate, platform_note, selection_of

WIDTH = 100  # the short form is written for a 100-column terminal
RUNNER_UPS = 3
_LONG_REASON = 280  # a reason longer than this (three wrapped lines) is left to --details rather than cut
# the order groups are listed in; any other status (a new one) comes after these, under its own name
_STATUS_ORDER = ("pruned", "disagrees", "failed")


def short_console() -> Console:
    """At most 100 columns: the answer reads the same in a wide terminal, a narrow one wraps, a pipe gets 100."""
    if sys.stdout.isatty():
        return Console(width=min(Console().width, WIDTH))
    return Console(width=WIDTH)


def _say(console: Console, text: str | Text, style: str | None = None) -> None:
    """One line, wrapped at words to the console's width with its continuation indented under the text."""
    if isinstance(text, Text):
        console.print(text, highlight=False)
        return
    indent = " " * (len(text) - len(text.lstrip(" ")))
    wrapped = textwrap.fill(text, width=console.width, subsequent_indent=indent + "    ", break_on_hyphens=False)
    # Text, not markup: reasons quote install hints like edgepick[litert-torch], which markup would swallow
    console.print(Text(wrapped, style=style or ""), highlight=False)


def _common(rows: list[dict]) -> set[int]:
    """Which parts of the keys (runtime/precision/tN/bN) are the same in every row: labels leave them out."""
    parts = [r["key"].split("@")[0].split("/") for r in rows]
    width = min((len(p) for p in parts), default=0)
    return {i for i in range(1, width) if len({p[i] for p in parts}) == 1}


def label(row: dict, common: set[int]) -> str:
    """'openvino fp16 b8': the key without the parts every row shares, with its device for a fleet row."""
    parts = row["key"].split("@")[0].split("/")
    text = " ".join(p for i, p in enumerate(parts) if i not in common)
    return f"{text} @{device_of(row)}" if device_of(row) else text


def names(rows: list[dict], common: set[int]) -> str:
    """'torch-eager (fp32, bf16), openvino fp16': a group's rows by runtime."""
    by_runtime: dict[str, list[str]] = {}
    for row in rows:
        head, _, rest = label(row, common).partition(" ")
        by_runtime.setdefault(head, []).append(rest)
    out = []
    for runtime, rests in by_runtime.items():
        rests = [r for r in rests if r]
        out.append(runtime if not rests else f"{runtime} {rests[0]}" if len(rests) == 1
                   else f"{runtime} ({', '.join(rests)})")
    return ", ".join(out)


def ratio(row: dict, best: dict) -> tuple[float, float]:
    """p50 of `row` over the pick's, and its uncertainty.

    The ± propagates both medians' 95% CIs to first order (the delta method, as for any quotient of independent
    estimates): relative half-widths add in quadrature, so the ± is itself about a 95% interval of the ratio. The
    half-width is half the CI's span (the CIs of medians are a little asymmetric; half the span is the fair middle).
    """
    (lo, hi), _ = best_ci(row["latency_ms"])
    (blo, bhi), _ = best_ci(best["latency_ms"])
    a, b = row["latency_ms"]["p50"], best["latency_ms"]["p50"]
    r = a / b
    return r, r * math.hypot((hi - lo) / 2 / a, (bhi - blo) / 2 / b)


def slower_text(row: dict, best: dict) -> str:
    r, err = ratio(row, best)
    if r < 1:  # a faster row that lost on the budget or another objective: say it the other way round
        return f"{1 / r:.2f} ± {err / r / r:.2f} times faster"
    return f"{r:.2f} ± {err:.2f} times slower"


def print_summary(run, console: Console | None = None) -> None:
    console = console or short_console()
    _header(run, console)
    if run.context.get("devices"):  # --on: one pick per device, and the candidate x device table
        from edgepick.report.fleet import print_fleet

        print_fleet(run, console)
    else:
        sel = _print_pick(run, console)
        if sel.picked is not None:
            _print_runner_ups(run, sel, console)
    for line in group_lines(run):
        _say(console, line)
    _footer(run, console)


def _header(run, console: Console) -> None:
    from edgepick.store.result import incomplete_note

    fp = run.fingerprint
    counts: dict[str, int] = {}
    for r in run.rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    head = f"edgepick run {run.run_id} · {run.model_name} · {fp.get('cpu_model')} · {fp.get('usable_cores')} cores"
    tally = f"{len(run.rows)} candidates: " + ", ".join(f"{n} {status}" for status, n in counts.items())
    fits = len(head) + len(tally) + 3 <= console.width
    _say(console, f"{head} · {tally}" if fits else head, "bold")
    if not fits:
        _say(console, tally)
    if incomplete_note(run):
        _say(console, incomplete_note(run), "bold yellow")


def _print_pick(run, console: Console):
    sel = selection_of(run)
    settings = run.request.get("selection") or {}
    if any(settings.values()):  # a budget, objective or device: say which, as the verdict below refers to them
        _say(console, f"selection: budget {sel.budget or '(none)'}; optimize {sel.objective}")
        for line in (device_line(settings.get("device")), platform_note(sel, run)):
            if line:
                _say(console, f"  {line}")
    if sel.picked is None:
        _say(console, f"no pick: {sel.verdict}", "bold red")
        return sel
    p = sel.picked
    lat = p["latency_ms"]
    (lo, hi), how = best_ci(lat)
    runtime, variant = p["key"].split("/")[:2]  # the variant: fp32, bf16, or a compression label
    threads = f"{p['threads']} thread" + ("s" if p["threads"] != 1 else "")
    _say(console, Text.assemble(("pick: ", "bold"), (runtime, "bold green"), f" · {variant} · {threads} · batch {p['batch']}"))
    _say(console, f"  p50 {lat['p50']:.4g} ms (95% CI {lo:.4g}–{hi:.4g}, {how}), p99 {lat['p99']:.4g} ms"
                  + pick_estimate(sel))
    if any(settings.values()):  # a budget or objective may be about these
        _say(console, f"  peak RSS {p.get('peak_rss_mb') or 0:.0f} MB, size {p.get('size_mb') or 0:.2f} MB")
    _say(console, f"  {sel.verdict}")
    for line in _pick_notes(p):
        _say(console, f"  {line}")
    return sel


def _pick_notes(row: dict) -> list[str]:
    """What qualifies the pick's figure and was asked for: LoadGen's verdict, the frame loop, an unsteady median."""
    from edgepick.measure.noise import STEADY_MEDIAN
    from edgepick.report.realtime import realtime_lines
    from edgepick.report.rigor import loadgen_text

    out = []
    if row.get("loadgen") and not row["loadgen"].get("error"):
        out.append("LoadGen " + loadgen_text(row["loadgen"]))
    out += realtime_lines(row)[:1]
    # a tail or a spread around a steady median is for --details; a median that moved or a busy machine qualifies
    # the CI above
    warnings = [w for w in (row.get("noise") or {}).get("warnings") or [] if not w.startswith(STEADY_MEDIAN)]
    if warnings:
        out.append("noisy: " + "; ".join(warnings))
    return out


def _ranked(run, sel) -> list[dict]:
    """The rows that competed with the pick and met every constraint, fastest median first."""
    feasible = set(sel.feasible) - {sel.picked["key"]}
    return sorted((r for r in run.rows if r["key"] in feasible), key=lambda r: r["latency_ms"]["p50"])


def _print_runner_ups(run, sel, console: Console) -> None:
    rest = _ranked(run, sel)
    if not rest:
        return
    common = _common([sel.picked, *rest])  # they share the pick's batch (and often its threads): no need to say so
    shown = rest[:RUNNER_UPS]
    labels = [label(r, common) for r in shown]
    pad = max(len(n) for n in labels)
    title = "runner-ups" if sel.objective == "latency" else "other feasible candidates, by p50"
    _say(console, f"{title} (± from both medians' 95% CIs; tied: the CIs overlap):", "bold")
    p50s = [f"{row['latency_ms']['p50']:.4g} ms" for row in shown]
    width = max(len(p) for p in p50s)
    for row, name, p50 in zip(shown, labels, p50s):
        _say(console, f"  {name:<{pad}}  p50 {p50:<{width}}  {slower_text(row, sel.picked)}{_tie_note(row, sel.picked)}")
    if len(rest) > RUNNER_UPS:
        more = rest[RUNNER_UPS:]
        lo, hi = ratio(more[0], sel.picked)[0], ratio(more[-1], sel.picked)[0]
        span = f"{lo:.2f}x" if len(more) == 1 else f"{lo:.2f}x to {hi:.2f}x"
        _say(console, f"  + {len(more)} more, {span} slower: {names(more, common | _common(more))}")


def _tie_note(row: dict, best: dict) -> str:
    """', tied' when the two CIs overlap; with --interleave, what the A B A B rounds said, which settles it better."""
    from edgepick.measure.noise import ci_overlap

    inter = row.get("interleaved") or {}
    if inter.get("rounds") and inter.get("a") == best["key"]:
        verdict = inter["verdict"].replace("b ", "this ").replace("a ", "pick ")
        return f", interleaved: {verdict} ({inter['b_wins']}/{inter['rounds']} rounds to this)"
    return ", tied" if ci_overlap(row, best) else ""


def group_lines(run) -> list[str]:
    """One line per group of rows that did not compete (by status and reason class), with a shared reason under it."""
    common = _common(run.rows)
    groups: dict[tuple[int, str], list[dict]] = {}
    for row in run.rows:
        group = _group_of(run, row)
        if group:
            groups.setdefault(group, []).append(row)
    out = []
    for (_, title), rows in sorted(groups.items()):
        # a batch group's title names its batch: its list says only what differs inside it
        shared = common | _common(rows) if title.startswith("batch ") else common
        out.append(f"{title} ({len(rows)}): {names(rows, shared)}{_best_throughput(rows, shared)}")
        reasons = list(dict.fromkeys(r.get("reason") or "" for r in rows if r["status"] != "ok"))
        if reasons and reasons[0] and len(reasons[0]) <= _LONG_REASON:
            out.append(f"  {'' if len(reasons) == 1 else 'e.g. '}{reasons[0]}")
        elif reasons and reasons[0]:
            out.append(f"  why: edgepick show {run.run_id} --details")
    return out


def _group_of(run, row: dict) -> tuple[int, str] | None:
    """(order, title) of the group of a row that did not compete; None for the pick and the rows ranked against it."""
    status = row["status"]
    if status != "ok":
        order = _STATUS_ORDER.index(status) if status in _STATUS_ORDER else len(_STATUS_ORDER)
        cls = row.get("reason_class")
        return order, status if cls in (None, status) else f"{status}, {cls}"
    if emulated(row) and not run.context.get("devices"):  # a fleet run's table already says which are emulated
        return 10, f"emulated ({emulated(row)}), never picked: its latency is not the device's"
    why = run.reasons.get(row["key"]) or ""
    if why.startswith("batch "):  # selection's own words for the rows outside the latency comparison
        return 11, f"batch {row['batch']}, compared for throughput, not latency"
    if run.context.get("devices"):
        return None
    clauses = _violated(run, row)
    return (12, f"over the budget, {clauses}") if clauses else None


def _best_throughput(rows: list[dict], common: set[int]) -> str:
    """For a group of larger batches: the one to use where throughput matters."""
    measured = [r for r in rows if r["status"] == "ok" and r.get("throughput_per_s") and r["batch"] > 1]
    if len(measured) < len(rows) or not measured:
        return ""
    best = max(measured, key=lambda r: r["throughput_per_s"])
    return f"; most items/s: {label(best, common)}, {best['throughput_per_s']:.0f}/s"


def _violated(run, row: dict) -> str:
    from edgepick.select.budget import parse_budget
    from edgepick.select.checks import check

    settings = run.request.get("selection") or {}
    if not any(settings.values()):
        return ""
    found = check(row, parse_budget(settings.get("budget")), settings.get("device"), run.request.get("reference_accuracy"))
    return ", ".join(dict.fromkeys(v.clause for v in found))


def _footer(run, console: Console) -> None:
    ctx = run.context
    if ctx.get("reference"):  # what "agree" was judged against
        acc = ctx.get("reference_accuracy")
        _say(console, f"reference: {ctx['reference']}" + (f", accuracy {acc * 100:.2f}%" if acc is not None else "")
             + f"; eval data: {ctx.get('data')}", "dim")
    summary = ctx.get("compression")
    if summary:
        _say(console, f"compression: {summary['configs_tried']} configurations measured; fastest within "
                      f"--max-acc-drop {summary['tolerance']['text']}: {summary.get('fastest_within_tolerance') or 'none'}")
    rid = run.run_id
    _say(console, f"more: edgepick show {rid} --wide      every row and column, why each lost", "dim")
    _say(console, f"      edgepick show {rid} --details   per-row CI, roofline, noise, energy", "dim")
    _say(console, f"      edgepick report {rid} -o report.html", "dim")
