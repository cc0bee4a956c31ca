"""CLI pieces for the compression axis: the `edgepick run` options, the summary printed under the table, and
`edgepick compressors`. Kept out of cli/main.py so that file only registers them."""

from __future__ import annotations

from edgepick.core.errors import UserError


def compress_options(precisions, compress: str | None, max_acc_drop: str | None, metric: str | None,
                     calib: str | None, calib_size: int, train_data: str | None) -> dict:
    """The settings.Compression fields from the options (the values are checked by settings.Compression)."""
    from edgepick.compress.plan import parse_compressions

    compressions = parse_compressions(compress)
    if not compressions:
        if precisions and calib is None and train_data is None:
            # --max-acc-drop/--metric also judge BF16/FP16 rows (plan/precision.py)
            return {"compressions": compressions, "max_acc_drop": max_acc_drop, "metric": metric}
        if any(v is not None for v in (max_acc_drop, metric, calib, train_data)):
            raise UserError("--max-acc-drop/--metric/--calib/--train-data apply to compressed candidates: add --compress, "
                            "e.g. --compress int8-static,fp16 (--max-acc-drop/--metric also judge --precision bf16 rows)")
        return {"compressions": compressions}
    return {"compressions": compressions, "max_acc_drop": max_acc_drop, "metric": metric, "calib": calib,
            "calib_size": calib_size, "train_data": train_data}


def print_compression(result) -> None:
    """Every compressed configuration tried: metric, drop, within tolerance, p50, speed-up, size; then the flags."""
    from rich.table import Table

    from edgepick.report.table import wide_console

    summary = result.context.get("compression")
    if not summary:
        return
    console = wide_console()
    tol = summary["tolerance"]
    console.print(f"\n[bold]compression[/]: metric {summary['metric']} (FP32 reference {summary['reference_score']:.4f}), "
                  f"--max-acc-drop {tol['text']} ({'relative to FP32' if tol['relative'] else 'absolute metric points'}); "
                  f"calibration: {summary['calibration']['size']} samples, {summary['calibration']['source']}, "
                  f"seed {summary['calibration']['seed']}, sha256 {summary['calibration']['sha256'][:12]}")
    fp32 = {(r["runtime"], r["threads"], r["batch"]): r for r in result.rows
            if not r.get("compression") and r["status"] == "ok" and r.get("latency_ms")}
    table = Table(header_style="bold")
    for col in ("candidate", "metric", "drop", "within", "p50 ms", "vs FP32", "size MB", "MACs", "note"):
        table.add_column(col)
    for r in result.rows:
        m = r.get("metric") or {}
        comp = r.get("compression") or {}
        if not comp and not m:
            continue
        p50 = (r.get("latency_ms") or {}).get("p50")
        base = fp32.get((r["runtime"], r["threads"], r["batch"]))
        speed = f"{base['latency_ms']['p50'] / p50:.2f}x" if p50 and base else "-"
        drop = m.get("drop")
        drop_text = "-" if drop is None else (f"{drop * 100:.2f}%" if tol["relative"] else f"{drop:.4f}")
        within = "-" if not comp else ("yes" if r["status"] == "ok" else "no" if r["status"] == "disagrees" else "failed")
        note = comp.get("note") or (comp.get("int8_flag") or {}).get("outcome") or r.get("reason") or ""
        if comp.get("kept"):
            note = "kept by the pruning loop (largest passing ratio)"
        table.add_row(r["key"], f"{m['score']:.4f}" if m.get("score") is not None else "-", drop_text, within,
                      f"{p50:.4f}" if p50 else "-", speed, f"{r['size_mb']:.3f}" if r.get("size_mb") else "-", _macs(comp),
                      note[:110])
    console.print(table)
    flagged = [r for r in result.rows if ((r.get("compression") or {}).get("int8_flag") or {}).get("likely_slower")]
    for r in flagged:
        f = r["compression"]["int8_flag"]
        console.print(f"INT8 flag on {r['key']}: likely slower ({'; '.join(f['why'])}) -> {f.get('outcome', 'not measured')}")
    console.print(f"fastest within tolerance: {summary.get('fastest_within_tolerance') or 'none'} "
                  f"({summary['configs_tried']} compressed configurations measured, all kept above)")


def _macs(comp: dict) -> str:
    """MACs per sample where the pass counted them (pruning steps, distilled students)."""
    for it in comp.get("iterations") or []:
        if f"prune-{it['ratio']:.2f}" == comp.get("step"):
            return f"{it['macs'] / 1e6:.3f}M"
    return f"{comp['student_macs'] / 1e6:.3f}M" if comp.get("student_macs") else "-"


def list_compressors() -> None:
    """The compression passes `--compress` can name, what each reads and writes, and whether it is installed."""
    from rich.table import Table

    from edgepick.core.registry import COMPRESSORS
    from edgepick.report.table import wide_console

    table = Table(header_style="bold")
    for col in ("name", "--compress", "reads", "writes", "installed", "what", "options"):
        table.add_column(col)
    for name, cls in COMPRESSORS.all().items():
        table.add_row(name, cls.family, ", ".join(cls.input_formats), cls.output_format,
                      "yes" if cls.is_available() else f"no: {cls.install_hint()}", cls.description,
                      "; ".join(f"{k}: {v}" for k, v in cls.options.items()))
    wide_console().print(table)


def register(app) -> None:
    app.command("compressors")(list_compressors)
