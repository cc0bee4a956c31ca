"""`edgepick env create NAME` and `edgepick env list`: the per-runtime virtual environments of core/envs.py."""

from __future__ import annotations

import typer


def create_cmd(name: str = typer.Argument(..., help="An environment from `edgepick env list`, e.g. mxnet."),
               force: bool = typer.Option(False, "--force", help="Rebuild it even if it is ready.")) -> None:
    """Build NAME's venv once (cached), install its pinned packages and check that they import."""
    from rich.console import Console

    from edgepick.core import envs

    console = Console()
    spec = envs.spec_of(name)
    if envs.is_ready(name) and not force:
        record = envs.marker(name)
        console.print(f"{name}: ready at {envs.env_dir(name)} ({record['check']}); --force rebuilds it", highlight=False)
        return
    console.print(f"{name}: {spec.why}", highlight=False)
    record = envs.create(name, force=force, log=lambda line: console.print(line, highlight=False, soft_wrap=True))
    console.print(f"{name}: ready in {record['seconds']} s: {record['check']} (Python {record['python']})", highlight=False)


def list_cmd() -> None:
    """Every known environment: ready, absent or failed (with why), where it lives and what uses it."""
    from rich.table import Table

    from edgepick.core import envs
    from edgepick.report.table import wide_console

    table = Table(header_style="bold")
    for col in ("env", "state", "used by", "pins", "versions / why not", "path"):
        table.add_column(col)
    for row in envs.listing():
        table.add_row(row["name"], row["state"], ", ".join(row["used_by"]) or "-", " ".join(row["packages"]),
                      row["check"] or f"absent: edgepick env create {row['name']}", row["path"])
    wide_console().print(table)


def register(app: typer.Typer) -> None:
    env_app = typer.Typer(no_args_is_help=True, help="Per-runtime virtual environments (runtimes whose pins clash with this one).")
    env_app.command("create")(create_cmd)
    env_app.command("list")(list_cmd)
    app.add_typer(env_app, name="env")
