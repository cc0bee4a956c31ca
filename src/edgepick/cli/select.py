"""Command bodies for selection and its outputs: `run --budget/--optimize/--device`, `report`, `export`, `compare`.

Registered on the typer app in cli/main.py; kept here so cli/main.py stays small. Imports stay light until a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _db(db: str | None) -> str:
    from edgepick.core.paths import default_db_url

    return db or default_db_url()


def stored_run(run_row):
    """A stored sweep run with its decision; runs stored before decisions were saved get one made by select/ now."""
    from edgepick.select.decision import settle
    from edgepick.store.result import run_from_db

    return settle(run_from_db(run_row))


def load_run(run_id: str, db: str | None):
    from edgepick.store.db import Store

    return stored_run(Store(_db(db)).get_run(run_id))


def _load_run(run_id: str, db: str | None):
    from edgepick.cli.train import comparable, is_training
    from edgepick.store.db import Store

    stored = Store(_db(db)).get_run(run_id)
    return comparable(stored) if is_training(stored) else stored_run(stored)  # training runs: steps as samples


def report_cmd(run_id: str = typer.Argument(..., help="A run id (or unique prefix) from `edgepick list`."),
               out: Path = typer.Option(Path("report.html"), "-o", "--output", help="The HTML file to write."),
               db: str | None = typer.Option(None, help="SQLAlchemy URL.")) -> None:
    """Write one self-contained HTML report (charts, pick and reasons) that opens offline."""
    from edgepick.cli.train import is_training
    from edgepick.report.html import write_report
    from edgepick.store.db import Store
    from edgepick.store.result import incomplete_note

    stored = Store(_db(db)).get_run(run_id)
    if is_training(stored):  # an `edgepick train` run: its own charts (step times, accuracy curves, memory, data)
        from edgepick.report.train_html import write_train_report
        from edgepick.train.runner import run_from_store

        path = write_train_report(run_from_store(stored), out)
    else:
        run = _load_run(run_id, db)
        path = write_report(run, out)
        if incomplete_note(run):
            typer.echo(incomplete_note(run), err=True)
    typer.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB, self-contained: open it in any browser, offline)")


def export_cmd(run_id: str = typer.Argument(..., help="A run id (or unique prefix)."),
               candidate: str | None = typer.Option(None, help="A candidate key, e.g. onnxruntime/fp32/t1/b1 "
                                                    "(default: the run's pick)."),
               out: Path = typer.Option(..., "-o", "--output", help="The directory to write."),
               db: str | None = typer.Option(None, help="SQLAlchemy URL."),
               sign_key: Path | None = typer.Option(None, help="Sign manifest.json with this PEM EC private key "
                                                    "(OpenSSF model-signing; offline).")) -> None:
    """Export a candidate: its artifact, a runnable infer.py, pinned requirements.txt and a README with its figures."""
    from edgepick.export.bundle import export_candidate
    from edgepick.export.manifest import signing_available

    written = export_candidate(_load_run(run_id, db), candidate, out, sign_key)
    typer.echo(f"exported {written['key']} to {out}/: " + ", ".join(written["files"]))
    if written.get("warning"):  # an interrupted run: its README says so too
        typer.echo(f"warning: {written['warning']}", err=True)
    if written["signed"]:
        typer.echo("signed: manifest.sig; verify with python infer.py --public-key KEY.pub.pem")
    else:
        typer.echo("unsigned: manifest.json's SHA-256s are checked by infer.py; " +
                   ("pass --sign-key KEY.pem to sign it (model-signing)" if signing_available() else
                    "signing is unavailable here (model-signing is not installed: pip install 'edgepick[sign]')"))
    typer.echo(f"try it: cd {out} && pip install -r requirements.txt && python infer.py")


def compare_cmd(run_a: str = typer.Argument(..., help="The baseline run."),
                run_b: str = typer.Argument(..., help="The run to judge against it."),
                threshold: str = typer.Option("5%", help="Flag a latency change only when larger than this."),
                alpha: float = typer.Option(0.01, help="...and significant at this level (Mann-Whitney U)."),
                as_json: bool = typer.Option(False, "--json", help="JSON."),
                fail_on_regression: bool = typer.Option(False, "--fail-on-regression",
                                                        help="Exit 1 when a regression is flagged (for CI)."),
                db: str | None = typer.Option(None, help="SQLAlchemy URL.")) -> None:
    """Line up two runs' candidates by key; per-metric deltas and a significance test on the latency samples."""
    from edgepick.select.compare import compare_runs, parse_threshold, print_comparison

    result = compare_runs(_load_run(run_a, db), _load_run(run_b, db), parse_threshold(threshold), alpha)
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        from edgepick.report.table import wide_console

        print_comparison(result, wide_console())
    if fail_on_regression and result["regressions"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("report")(report_cmd)
    app.command("export")(export_cmd)
    app.command("compare")(compare_cmd)
