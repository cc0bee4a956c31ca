"""The device fleet on a REAL Ray cluster on loopback: a head and two one-core device nodes, each `ray start`-ed.

dev-a gets CPU 0 and a 700 MB cap, dev-b CPU 1 and 900 MB, so their rows differ for a known reason. Both devices run
with an empty per-runtime venv folder (EDGEPICK_ENVS), so MXNet, which needs its own venv, is genuinely missing there:
its rows must say `not-installed` on that device with the install command. Nothing of Ray is mocked.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the fleet needs Ray: pip install 'edgepick[cluster]'")
pytest.importorskip("onnxruntime")
pytest.importorskip("cv2")

from tests.fleet_cluster import Cluster  # noqa: E402

from edgepick.store.db import Store  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
RUNTIMES = "onnxruntime,opencv-dnn,torchscript,mxnet"  # openvino disagrees at 1 thread here, also locally
MB = 2**20


def _pythonpath() -> str:
    return os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p)


@contextlib.contextmanager
def _solo_fleet(tmp_path):
    """A one-node Ray cluster whose head is also device `solo`: yields it and `edgepick run` aimed at it (the model
    path goes after), on onnxruntime, 1 thread, JSON out, short timing."""
    c = Cluster(tmp_path, {"PYTHONPATH": _pythonpath()})
    try:
        c.start_head(device="solo")
        c.wait_alive(["solo"])
        yield c, [sys.executable, "-m", "edgepick.cli.main", "run", "--runtimes", "onnxruntime", "--threads", "1",
                  "--on", "solo", "--json", "--min-duration", "0.05", "--min-samples", "5", "--warmup", "2"]
    finally:
        c.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleet")
    empty_envs = tmp / "no-envs"
    empty_envs.mkdir()
    c = Cluster(tmp, {"PYTHONPATH": _pythonpath()})
    try:
        c.start_head()
        c.wait_alive([])
        for name, core, mem, ip in (("dev-a", 0, 700 * MB, "127.0.0.3"), ("dev-b", 1, 900 * MB, "127.0.0.4")):
            c.add_device(name, [core], mem, {"EDGEPICK_ENVS": str(empty_envs)}, ip)
            c.wait_alive([name])
        yield c
    finally:
        c.stop()


def _run_args(cluster, min_duration: str) -> list[str]:
    return [sys.executable, "-m", "edgepick.cli.main", "run", "digits-cnn", "--runtimes", RUNTIMES, "--threads", "1",
            "--on", "dev-a,dev-b", "--cluster", cluster.address, "--json", "--min-duration", min_duration,
            "--min-samples", "5", "--warmup", "2", "--no-noise-retry"]


def _env(cluster, home: Path) -> dict:
    return dict(cluster.env, EDGEPICK_HOME=str(home))


def _rows_by_key(doc: dict) -> dict:
    return {c["key"]: c for c in doc["candidates"]}


@pytest.mark.slow
def test_sweep_on_two_devices_then_device_lost_then_resume(cluster, zoo_home):
    home = zoo_home  # digits-cnn is trained once per session
    # 1. a sweep on both devices: rows from both, each with its device's fingerprint
    done = subprocess.run(_run_args(cluster, "0.05"), capture_output=True, text=True, env=_env(cluster, home),
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    rows = _rows_by_key(doc)
    assert len(rows) == 8
    for dev, core, mem in (("dev-a", 0, 700.0), ("dev-b", 1, 900.0)):
        for rt in ("onnxruntime", "opencv-dnn", "torchscript"):
            row = rows[f"{rt}/fp32/t1/b1@{dev}"]
            assert row["status"] == "ok", row
            assert row["device"]["name"] == dev
            fp = row["device"]["fingerprint"]
            assert fp["device_cores"] == [core] and fp["device_memory_mb"] == mem
            assert fp["runtimes"][rt] and fp["arch"] and fp["python"]
            assert row["cores"] == [core]
            assert row["memory_cap"]["limit_mb"] == mem  # the device's --memory caps its workers
            assert row["equivalence"]["cosine"] > 0.9999 and row["accuracy"] > 0.9
        mx = rows[f"mxnet/fp32/t1/b1@{dev}"]
        assert mx["reason_class"] == "not-installed" and dev in mx["reason"] and "edgepick env create mxnet" in mx["reason"]
    assert set(doc["devices"]) == {"dev-a", "dev-b"}
    for dev in ("dev-a", "dev-b"):
        assert doc["devices"][dev]["pick"].endswith(f"@{dev}")
    cross = doc["cross_device"]
    assert cross["devices"] == ["dev-a", "dev-b"]
    ort = next(r for r in cross["rows"] if r["candidate"] == "onnxruntime/fp32/t1/b1")
    assert all(ort["p50_ms"][d] > 0 for d in ("dev-a", "dev-b"))
    _device_lost_then_resume(cluster, home)


def _device_lost_then_resume(cluster, home: Path) -> None:
    """SIGKILL dev-b's raylet mid-sweep: its open rows become device-lost, dev-a completes; the re-run measures
    only what is missing, in the same run."""
    args = _run_args(cluster, "1.5")  # slow enough that the kill lands mid-sweep
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(cluster, home), start_new_session=True)
    store = Store(f"sqlite:///{home / 'results.db'}")
    deadline = time.monotonic() + 600
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        runs = store.list_runs() if (home / "results.db").exists() else []
        b_rows = [c for c in runs[0].candidates if c.key.endswith("@dev-b") and c.status == "ok"] if runs else []
        if b_rows:
            cluster.kill_device("dev-b")
            killed = True
            break
        time.sleep(0.2)
    out, err = proc.communicate(timeout=900)
    assert killed, f"dev-b stored no row before the sweep ended: {err[-2000:]}"
    assert proc.returncode == 0, err[-3000:]
    doc = json.loads(out)
    rows = _rows_by_key(doc)
    lost = [k for k, r in rows.items() if r["reason_class"] == "device-lost"]
    assert lost and all(k.endswith("@dev-b") and "dev-b" in rows[k]["reason"] for k in lost)
    # dev-a finished: each row measured, or pruned by the device's own race (a 1.5 s steady state is longer than
    # the probe, so the search prunes: opencv-dnn read 1.8x onnxruntime here)
    for rt in ("onnxruntime", "opencv-dnn", "torchscript"):
        assert rows[f"{rt}/fp32/t1/b1@dev-a"]["status"] in ("ok", "pruned")
    assert any(r["status"] == "ok" for k, r in rows.items() if k.endswith("@dev-a"))
    before = {k: r["latency_ms"] for k, r in rows.items() if r["status"] in ("ok", "pruned")}

    cluster.add_device("dev-b", [1], 900 * MB, {"EDGEPICK_ENVS": str(Path(cluster.tmp) / "no-envs")}, "127.0.0.4")
    cluster.wait_alive(["dev-b"])
    again = subprocess.run(args, capture_output=True, text=True, env=_env(cluster, home), timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    doc2 = json.loads(again.stdout)
    assert doc2["run_id"] == doc["run_id"]
    rows2 = _rows_by_key(doc2)
    assert not [k for k, r in rows2.items() if r["reason_class"] == "device-lost"]
    for key in lost:
        assert rows2[key]["status"] in ("ok", "pruned", "failed") and rows2[key]["device"]["name"] == "dev-b"
    for key, latency in before.items():  # measured rows were reused, not measured again
        assert rows2[key]["latency_ms"] == latency, key


def test_one_node_fleet_measures_through_ray(tmp_path, tiny_onnx):
    """The smallest real fleet, in `make test`: the head is also device `solo`; one candidate goes through Ray's
    object store, is checked on arrival and measured there, and comes back with the device's name and fingerprint."""
    with _solo_fleet(tmp_path) as (c, run_on_solo):
        args = [*run_on_solo, str(tiny_onnx)]
        done = subprocess.run(args, capture_output=True, text=True, env=_env(c, tmp_path / "home"), timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        doc = json.loads(done.stdout)
        (row,) = doc["candidates"]
        assert row["key"] == "onnxruntime/fp32/t1/b1@solo" and row["status"] == "ok", row
        assert row["device"]["name"] == "solo" and row["device"]["fingerprint"]["runtimes"]["onnxruntime"]
        assert row["equivalence"]["cosine"] > 0.9999
        assert doc["devices"]["solo"]["pick"] == row["key"]
        report = tmp_path / "fleet.html"  # the stored fleet run's report carries the cross-device heatmap
        made = subprocess.run([sys.executable, "-m", "edgepick.cli.main", "report", doc["run_id"], "-o", str(report)],
                              capture_output=True, text=True, env=_env(c, tmp_path / "home"), timeout=120)
        assert made.returncode == 0, made.stderr[-3000:]
        assert "p50 per device" in report.read_text() and '"solo"' in report.read_text()


@pytest.mark.slow
def test_cluster_and_device_commands(tmp_path, tiny_onnx):
    """`edgepick cluster start`, `device join` (a one-core, 700 MB slice of this host), `devices`, `device leave`,
    `cluster stop`: the commands a user types, on loopback. `cluster stop` is `ray stop`: every Ray node of this user
    on this machine, so this test runs alone (slow, after the others in this file)."""
    from tests.fleet_cluster import free_port

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p),
               EDGEPICK_CLUSTER_STATE=str(tmp_path / "state"), EDGEPICK_HOME=str(tmp_path / "home"),
               RAY_raylet_start_wait_time_s="120")
    env.pop("RAY_ADDRESS", None)
    port = free_port()

    def edgepick(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edgepick.cli.main", *args], capture_output=True, text=True, env=env,
                              timeout=600, cwd=tmp_path)

    try:
        started = edgepick("cluster", "start", "--port", str(port), "--dashboard-port", str(free_port()))
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.2:{port}" in started.stdout and "no authentication" in started.stdout
        joined = edgepick("device", "join", f"127.0.0.2:{port}", "--name", "slice", "--label", "class=test",
                          "--cores", "0", "--memory", "700MB")
        assert joined.returncode == 0, joined.stderr
        assert "device slice joined" in joined.stdout and "onnxruntime" in joined.stdout
        listed = json.loads(edgepick("devices", "--json").stdout)
        (dev,) = listed
        assert dev["name"] == "slice" and dev["state"] == "ALIVE" and dev["busy"] is False
        assert dev["labels"]["class"] == "test" and dev["fingerprint"]["device_cores"] == [0]
        assert dev["fingerprint"]["device_memory_mb"] == round(700e6 / 2**20, 1)
        left = edgepick("device", "leave", "--name", "slice")
        assert left.returncode == 0 and "stopped" in left.stdout, left.stderr
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            listed = json.loads(edgepick("devices", "--json").stdout)
            if listed[0]["state"] == "DEAD":
                break
            time.sleep(2)
        assert listed[0]["state"] == "DEAD"
        unknown = edgepick("run", str(tiny_onnx), "--on", "nosuch")
        assert unknown.returncode == 2 and "no device named nosuch" in unknown.stderr
    finally:
        stopped = edgepick("cluster", "stop")
        assert stopped.returncode == 0, stopped.stderr


@pytest.mark.slow
def test_compression_follow_ups_run_on_the_device(tmp_path, tiny_onnx):
    """An INT8 candidate over its accuracy drop on device `solo` gets its follow-ups there too: the sensitivity
    ranking on the head, then INT8 with the most sensitive nodes back in float, round by round, until one passes."""
    import numpy as np

    np.savez(tmp_path / "d.npz", x=np.random.default_rng(0).normal(size=(48, 1, 8, 8)).astype(np.float32))
    with _solo_fleet(tmp_path) as (c, run_on_solo):
        args = [*run_on_solo, str(tiny_onnx),
                "--data", str(tmp_path / "d.npz"), "--compress", "int8-dynamic", "--metric", "mse",
                "--max-acc-drop", "0.00000001abs"]  # no quantization error allowed: forces the follow-ups
        done = subprocess.run(args, capture_output=True, text=True, env=_env(c, tmp_path / "home"), timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        rows = {r["key"]: r for r in json.loads(done.stdout)["candidates"]}
        first = rows["onnxruntime/int8-dynamic/t1/b1@solo"]
        assert first["status"] == "disagrees" and first["compression"]["sensitivity"]
        follow_ups = sorted(k for k in rows if "-float" in k)
        assert follow_ups and all(k.endswith("@solo") for k in follow_ups)
        assert all(rows[k]["device"]["name"] == "solo" for k in follow_ups)
        assert any(rows[k]["status"] == "ok" for k in follow_ups)  # the search stops at the first k that passes
