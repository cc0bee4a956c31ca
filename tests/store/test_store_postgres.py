"""A team shares one results store on a real PostgreSQL server: the test starts its own (Debian's postgresql package)
on 127.0.0.1, a sweep writes into it with `--db postgresql://...`, and `list`/`show` read the run back."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))  # Debian keeps them off PATH
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    return Path(on_path).parent if on_path else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> dict:
    """postgres refuses to run as root: as root, run it as the package's `postgres` user (else `nobody`)."""
    if os.geteuid() != 0:
        return {}
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return {"user": name}
        except KeyError:
            continue
    pytest.skip("running as root and there is no unprivileged user to run postgres as")


@pytest.fixture(scope="module")
def postgres_url():
    psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL driver is the `postgres` extra (psycopg)")
    bindir = _postgres_bin()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries are missing (apt-get install postgresql; `make test` does it as root)")
    run_as = _server_user()
    root = Path(tempfile.mkdtemp(prefix="edgepick-pg-"))  # under /tmp itself, so the server's user can reach it
    if run_as:
        shutil.chown(root, user=run_as["user"])
    data, port = root / "data", _free_port()
    subprocess.run([bindir / "initdb", "-D", data, "-A", "trust", "-U", "edgepick", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True, timeout=120, **run_as)
    server = subprocess.Popen([bindir / "postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port), "-F",
                               "-c", "unix_socket_directories="], stdout=subprocess.DEVNULL,
                              stderr=open(root / "server.log", "wb"), **run_as)
    try:
        admin = _connect(psycopg, f"postgresql://edgepick@127.0.0.1:{port}/postgres", server)
        with admin:
            admin.execute("CREATE DATABASE team")
        yield f"postgresql://edgepick@127.0.0.1:{port}/team"
    finally:
        server.send_signal(signal.SIGINT)  # "fast" shutdown: ends sessions, checkpoints, exits
        server.wait(timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def _connect(psycopg, url: str, server: subprocess.Popen):
    deadline = time.monotonic() + 60
    while True:
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGEPICK_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "edgepick.cli.main", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_sweep_into_postgres_then_list_and_show_from_another_home(postgres_url, tiny_onnx, tmp_path):
    swept = _cli("run", str(tiny_onnx), "--runtimes", "onnxruntime", "--threads", "1,2", "--batch", "1",
                 "--precision", "fp32", "--min-duration", "0.05", "--min-samples", "5", "--warmup", "2",
                 "--db", postgres_url, "--json", home=tmp_path / "alice")
    assert swept.returncode == 0, swept.stderr
    result = json.loads(swept.stdout)
    assert {c["status"] for c in result["candidates"]} == {"ok"} and len(result["candidates"]) == 2

    bob = tmp_path / "bob"  # a teammate: another home, no local database, the same server
    listed = _cli("list", "--db", postgres_url, home=bob)
    assert listed.returncode == 0, listed.stderr
    assert result["run_id"] in listed.stdout and "tiny" in listed.stdout
    shown = _cli("show", result["run_id"], "--db", postgres_url, "--json", home=bob)
    assert shown.returncode == 0, shown.stderr
    back = json.loads(shown.stdout)
    assert back["run_id"] == result["run_id"]
    latency = {c["key"]: c["latency_ms"] for c in result["candidates"]}
    assert {c["key"]: c["latency_ms"] for c in back["candidates"]} == latency  # the numbers, as measured
    assert not (bob / "results.db").exists()


def test_explicit_driver_url_works_too(postgres_url, tmp_path):
    pytest.importorskip("psycopg")
    listed = _cli("list", "--db", postgres_url.replace("postgresql://", "postgresql+psycopg://"), home=tmp_path)
    assert listed.returncode == 0, listed.stderr


def test_missing_driver_is_one_line_naming_what_to_install(tmp_path):
    # psycopg2 is SQLAlchemy's driver for `postgresql+psycopg2://`; edgepick never installs it, so it is truly absent
    if _importable("psycopg2"):
        pytest.skip("psycopg2 is installed here, so its absence cannot be shown")
    done = _cli("list", "--db", "postgresql+psycopg2://u:secret@127.0.0.1:9/x", home=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "psycopg2" in lines[0] and "edgepick[postgres]" in lines[0] and "Traceback" not in done.stderr
    assert "secret" not in done.stderr


def test_unreachable_server_is_one_line(tmp_path):
    pytest.importorskip("psycopg")
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        done = _cli("list", "--db", f"postgresql://u:secret@127.0.0.1:{s.getsockname()[1]}/x", home=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "cannot open the results database" in done.stderr
    assert "secret" not in done.stderr


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_without_psycopg_the_line_says_install_the_postgres_extra(tmp_path):
    # psycopg made unimportable in a child process (None in sys.modules fails its import), as on a machine without it
    code = ("import sys; sys.modules['psycopg'] = None; from edgepick.cli.main import main; "
            "sys.argv = ['edgepick', 'list', '--db', 'postgresql://u:secret@127.0.0.1:9/x']; main()")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "EDGEPICK_HOME": str(tmp_path)})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'edgepick[postgres]'" in lines[0] and "secret" not in lines[0]
