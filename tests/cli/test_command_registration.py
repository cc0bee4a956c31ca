"""Every command is registered one way: a plain function in a cli/<group>.py module, named in its register(app)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from typer.testing import CliRunner

import edgepick.cli.main as cli_main

CLI = Path(cli_main.__file__).parent
COMMANDS = ("run", "demo", "list", "show", "report", "export", "compare", "peak", "serve", "loadtest", "train",
            "compressors", "formats", "doctor", "runtimes", "devices", "env", "cluster", "device")


def test_no_command_is_added_any_other_way():
    for path in CLI.glob("*.py"):
        text = path.read_text()
        assert not re.search(r"^@\w+\.command", text, re.M), f"{path.name}: a decorator; name it in register(app)"
        assert "noqa: E402" not in text, f"{path.name}: a late import to register commands"
        assert path.stem == "main" or "add_typer" not in text or "def register(" in text


def test_each_group_registers_its_commands_and_help_lists_them_all():
    for group in cli_main.COMMAND_GROUPS:
        assert callable(importlib.import_module(f"edgepick.cli.{group}").register), group
    out = CliRunner().invoke(cli_main.app, ["--help"])
    assert out.exit_code == 0, out.output
    listed = re.findall(r"^│ (\w+) ", out.output, re.M)
    assert sorted(listed) == sorted(COMMANDS)
