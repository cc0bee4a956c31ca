"""--budget and --optimize parsing: strict units, one clear line and exit code 2 on a mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgepick.core.errors import UserError
from edgepick.select.budget import parse_budget, parse_objective

EDGEPICK = str(Path(sys.executable).with_name("edgepick"))


def test_full_budget_in_canonical_units():
    b = parse_budget("p90<=15ms, mem<=300MB,size<=10MiB,acc_drop<=1%,throughput>=100/s,load<=2s,p99<=500us")
    got = {c.metric: c.value for c in b.clauses}
    assert got["p90"] == 15.0
    assert got["p99"] == pytest.approx(0.5)
    assert got["mem"] == pytest.approx(300e6 / 2**20)  # MB is decimal, rows are recorded in MiB
    assert got["size"] == pytest.approx(10.0)
    assert got["acc_drop"] == 1.0 and got["throughput"] == 100.0 and got["load"] == 2.0
    assert b.text == "p90<=15ms,mem<=300MB,size<=10MiB,acc_drop<=1%,throughput>=100/s,load<=2s,p99<=500us"


def test_every_clause_is_optional():
    assert not parse_budget(None) and not parse_budget("  ")
    assert [c.metric for c in parse_budget("size<=1GB").clauses] == ["size"]


@pytest.mark.parametrize("text, says", [
    ("p90<=15", "unit"),
    ("p90<=15 parsecs", "unit"),
    ("p90>=15ms", "takes '<='"),
    ("throughput<=100/s", "takes '>='"),
    ("latency<=15ms", "unknown metric"),
    ("mem<=300", "unit"),
    ("acc_drop<=1", "unit"),
    ("acc_drop<=101%", "above 100"),
    ("throughput>=100", "unit"),
    ("p90<=15ms,p90<=10ms", "twice"),
    ("p90<=15ms,,mem<=1GB", "empty clause"),
    ("p90 15ms", "metric<=value"),
    ("p90<=-1ms", "unit"),
    ("p90<=0ms", "positive"),
])
def test_bad_budgets_are_user_errors(text, says):
    with pytest.raises(UserError) as e:
        parse_budget(text)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_objectives():
    assert parse_objective(None) == {"latency": 1.0}
    assert parse_objective("size") == {"size": 1.0}
    assert parse_objective("latency=0.7,size=0.3") == pytest.approx({"latency": 0.7, "size": 0.3})
    assert parse_objective("latency=2,memory=2") == pytest.approx({"latency": 0.5, "memory": 0.5})
    for bad in ("speed", "latency=x", "latency=0", "latency=-1,size=2", "latency=1,latency=2", "colour=1"):
        with pytest.raises(UserError):
            parse_objective(bad)


@pytest.mark.parametrize("args", [
    ["--budget", "p90<=15"],
    ["--budget", "p90>=15ms"],
    ["--optimize", "fastest"],
    ["--device", "toaster-class"],
])
def test_cli_refuses_a_bad_budget_with_one_line_and_exit_2(args, home):
    proc = subprocess.run([EDGEPICK, "run", "digits-cnn", "--runtimes", "onnxruntime", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("edgepick: error:"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (home / "results.db").exists()  # refused before any work
