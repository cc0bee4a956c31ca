"""The training comparison as a rich table, Markdown and JSON (schema edgepick.train/1), with the chapter's claims."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from edgepick.train.claims import compare_claims
from edgepick.train.config import SCHEMA
from edgepick.train.results import public

_STYLE = {"ok": "green", "failed": "red", "disagrees": "yellow"}


def _f(value, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _tta(row: dict) -> str:
    t = row.get("time_to_accuracy")
    if not t:
        return "-"
    if t["mean_trimmed_s"] is None:
        return f"not reached ({t['reached']}/{t['seeds']})"
    spread = f" [{t['min_s']:.2f}-{t['max_s']:.2f}]" if t.get("min_s") is not None else ""
    return f"{t['mean_trimmed_s']:.2f}{spread}"


def _rss(row: dict) -> str:
    if row.get("peak_rss_mb") is None:
        return "-"
    extra = f" (+{row['rss_above_import_mb']:.0f})" if row.get("rss_above_import_mb") is not None else ""
    return f"{row['peak_rss_mb']:.0f}{extra}"


def _deploy(row: dict) -> str:
    d = row.get("deploy")
    if not d:
        return "-"
    if d.get("agreed") is None:
        return d.get("note", "-")[:40]
    best = f", {d['best_p50_ms']:.3f} ms {d['best_runtime']}" if d.get("best_p50_ms") else ""
    return f"{d['agreed']}/{d['tried']}{best}"


COLUMNS = [
    ("framework", lambda r: r["framework"]),
    ("status", lambda r: r["status"]),
    ("data/s", lambda r: _f(r.get("data_samples_per_s"), "{:.0f}")),
    ("1st step s", lambda r: _f(r.get("first_step_s"))),
    ("step p50 ms", lambda r: _f((r.get("step_ms") or {}).get("p50"), "{:.2f}")),
    ("p90 ms", lambda r: _f((r.get("step_ms") or {}).get("p90"), "{:.2f}")),
    ("samples/s", lambda r: _f(r.get("samples_per_s"), "{:.0f}" if (r.get("samples_per_s") or 0) >= 100 else "{:.3g}")),
    ("RSS MB (+import)", _rss),
    ("time to acc s [min-max]", _tta),
    ("acc %", lambda r: _f(r["final_accuracy"] * 100 if r.get("final_accuracy") is not None else None)),
    ("copy err", lambda r: _f((r.get("equivalence") or {}).get("max_abs_err"), "{:.0e}")),
    ("deploy: agree/tried, best p50", _deploy),
]


def _note(row: dict) -> str:
    if row.get("reason"):
        return f"{row.get('reason_class')}: {row['reason']}"
    return ""  # the modes are listed under the table


def _title(run) -> str:
    fp, cfg = run.fingerprint, run.config
    hp = run.request.get("hyperparameters", {})
    shape = f" · synthetic {cfg.get('synthetic')}" if cfg.get("synthetic") else ""
    return (f"edgepick train {run.run_id} · {cfg.get('model')}{shape} · {fp.get('cpu_model')} · {fp.get('usable_cores')} "
            f"cores · {hp.get('threads')} threads · batch {hp.get('batch')}")


def _columns(run) -> list:
    """The deployment column only when the run measured deployment (--deploy)."""
    deployed = any(r.get("deploy") for r in run.rows)
    return [c for c in COLUMNS if deployed or not c[0].startswith("deploy")]


def print_train(run, console: Console) -> None:
    table = Table(title=_title(run), title_justify="left", header_style="bold")
    columns = _columns(run)
    for name, _ in columns:
        table.add_column(name, justify="left" if name in ("framework", "status") else "right", no_wrap=True)
    table.add_column("note", min_width=30)
    for row in run.rows:
        table.add_row(*(Text(fn(row)) for _, fn in columns), Text(_note(row)), style=_STYLE.get(row["status"]))
    console.print(table)
    for line in settings_lines(run):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    print_claims(run, console)


def settings_lines(run) -> list[str]:
    hp = run.request.get("hyperparameters", {})
    data = run.context.get("data") or {}
    opt = hp.get("optimizer", {})
    lines = [f"data: {data.get('source')}; {data.get('train_samples')} train / {data.get('eval_samples')} held out; "
             f"shuffle: {data.get('shuffle')}",
             f"same in every framework: {opt.get('name')} {', '.join(f'{k}={v}' for k, v in opt.items() if k != 'name')}, "
             f"lr {hp.get('lr')} ({hp.get('schedule')}), batch {hp.get('batch')} (last partial batch dropped), "
             f"{hp.get('epochs')} epochs, loss: {hp.get('loss')}, {hp.get('threads')} threads, seeds {hp.get('seeds')}, "
             f"initial weights sha256 {str(data.get('initial_weights_sha256'))[:12]} copied into each"]
    if hp.get("target_accuracy"):
        lines.append(f"time to accuracy: training time (evaluation excluded, warm: the compile is in '1st step') until "
                     f"held-out accuracy >= {hp['target_accuracy']:.0%}; mean after dropping the fastest and slowest seed")
    modes = [f"{r['framework']} = {r['mode']}" for r in run.rows if r.get("mode") not in (None, "-")]
    if modes:
        lines.append("modes: " + "; ".join(modes))
    if run.context.get("fastest"):
        lines.append(f"fastest: {run.context['fastest']}")
    return lines


def print_claims(run, console: Console) -> None:
    deployed = any(r.get("deploy") for r in run.rows)
    table = Table(title="the chapter's claims on this machine", title_justify="left", header_style="bold")
    for col in ("framework", "measured as", "speed: claim", "measured", "verdict", "deployment: claim", "measured",
                "verdict", "GPU: claim"):
        table.add_column(col)
    for c in compare_claims(run.rows, deployed):
        s, d, g = c["training_speed"], c["ease_of_deployment"], c["gpu_support"]
        table.add_row(*(Text(x) for x in (c["framework"], c["measured_as"], s["claim"], s["measured"], s["verdict"],
                                          d["claim"], d["measured"], d["verdict"], f"{g['claim']} (not measured)")))
    console.print(table)


def to_json(run) -> dict:
    deployed = any(r.get("deploy") for r in run.rows)
    return {"schema": SCHEMA, "run_id": run.run_id, "model": run.config.get("model"),
            "synthetic": run.config.get("synthetic"), "data": run.context.get("data"),
            "hyperparameters": run.request.get("hyperparameters"), "fingerprint": run.fingerprint,
            "fastest": run.context.get("fastest"), "frameworks": [public(r) for r in run.rows],
            "claims": compare_claims(run.rows, deployed)}


def to_markdown(run) -> str:
    columns = _columns(run)
    heads = [name for name, _ in columns] + ["note"]
    heads = [h.replace("|", "\\|") for h in heads]
    lines = [f"**{_title(run)}**", "", "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for row in run.rows:
        cells = [fn(row) for _, fn in columns] + [_note(row)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += [""] + [f"- {line}" for line in settings_lines(run)] + ["", "| framework | measured as | speed: claim | "
              "measured | verdict | deployment: claim | measured | verdict |", "|---|---|---|---|---|---|---|---|"]
    for c in compare_claims(run.rows, any(r.get("deploy") for r in run.rows)):
        s, d = c["training_speed"], c["ease_of_deployment"]
        lines.append(f"| {c['framework']} | {c['measured_as']} | {s['claim']} | {s['measured']} | {s['verdict']} | "
                     f"{d['claim']} | {d['measured']} | {d['verdict']} |")
    return "\n".join(lines)
