"""Device-fleet figures (issue 13), on a real Ray cluster started here on loopback (head + two one-core devices).

1. Parallelism: the sweep phase of `--on dev-a,dev-b` (every candidate measured on both devices at once) against the
   same measurements made one device at a time (`--on dev-a`, then `--on dev-b`). Target: ratio <= 0.6.
2. Fidelity: each candidate's p50 measured through Ray on dev-a (CPU 0) against the same candidate measured by the
   local launcher pinned to CPU 0 (`cores=[0]`), alternating local / Ray for ROUNDS rounds; the median of each
   side's p50s is compared. Target: within 3%.

    .venv/bin/python benchmarks/fleet.py            # env FLEET_ROUNDS=3, FLEET_RUNTIMES=onnxruntime,opencv-dnn,torchscript

Needs `pip install 'edgepick[cluster]'`. Prints Markdown with the machine's load average before and after: on a
shared machine the figures move with the other work, so read them with it.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/fleet_cluster.py starts the cluster

from tests.fleet_cluster import Cluster  # noqa: E402

from edgepick.sweep.scheduler import Request, execute  # noqa: E402
from edgepick.worker.latency import TimingPolicy  # noqa: E402

RUNTIMES = os.environ.get("FLEET_RUNTIMES", "onnxruntime,opencv-dnn,torchscript").split(",")
ROUNDS = int(os.environ.get("FLEET_ROUNDS", "3"))
TIMING = TimingPolicy(warmup_count=10, warmup_s=0.3, min_samples=100, min_duration_s=2.0)


def sweep_phase(on: str | None, address: str, cores: list[int] | None = None):
    """(seconds from the sweep's start event to its last measured row, the Run)."""
    marks: dict[str, float] = {}

    def progress(kind: str, info: dict) -> None:
        if kind == "start":
            marks["start"] = time.monotonic()
        elif kind == "measured":
            marks["end"] = time.monotonic()

    run = execute(Request(model="digits-cnn", runtimes=RUNTIMES, threads=[1], timing=TIMING, force=True,
                          noise_retry=False, on=on, cluster=address, cores=cores), progress)
    return marks["end"] - marks["start"], run


def p50s(run) -> dict[str, float]:
    return {r["key"].split("@")[0]: r["latency_ms"]["p50"] for r in run.rows if r["status"] == "ok"}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="edgepick-fleet-bench-"))
    os.environ.setdefault("EDGEPICK_HOME", str(tmp / "home"))
    src = str(Path(__file__).resolve().parents[1] / "src")
    cluster = Cluster(tmp, {"PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)})
    out = [f"# Device fleet on Ray: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
           f"load average before: {os.getloadavg()}; runtimes {', '.join(RUNTIMES)}, 1 thread, batch 1, "
           f"steady state >= {TIMING.min_duration_s} s and >= {TIMING.min_samples} calls", ""]
    try:
        cluster.start_head()
        cluster.wait_alive([])
        # no memory cap on the devices: the local runs have none either (a cap adds an RSS watchdog thread)
        for name, core, ip in (("dev-a", 0, "127.0.0.3"), ("dev-b", 1, "127.0.0.4")):
            cluster.add_device(name, [core], None, ip=ip)
            cluster.wait_alive([name])
        sweep_phase("dev-a", cluster.address)  # warm: conversions cached, device caches filled
        t_a, _ = sweep_phase("dev-a", cluster.address)
        t_b, _ = sweep_phase("dev-b", cluster.address)
        t_ab, _ = sweep_phase("dev-a,dev-b", cluster.address)
        out += ["## Two devices in parallel vs one at a time", "",
                f"- `--on dev-a`: {t_a:.1f} s; `--on dev-b`: {t_b:.1f} s; one device at a time: {t_a + t_b:.1f} s",
                f"- `--on dev-a,dev-b` (the same {2 * len(RUNTIMES)} measurements, in parallel): {t_ab:.1f} s",
                f"- ratio {t_ab / (t_a + t_b):.2f} (target <= 0.6)", ""]
        local: dict[str, list[float]] = {}
        remote: dict[str, list[float]] = {}
        for _ in range(ROUNDS):
            for key, v in p50s(sweep_phase(None, cluster.address, cores=[0])[1]).items():
                local.setdefault(key, []).append(v)
            for key, v in p50s(sweep_phase("dev-a", cluster.address)[1]).items():
                remote.setdefault(key, []).append(v)
        out += [f"## p50 through Ray (dev-a, CPU 0) vs the local launcher on CPU 0, median of {ROUNDS} rounds", "",
                "| candidate | local p50 ms | Ray p50 ms | difference |", "|---|---:|---:|---:|"]
        for key in local:
            if key in remote:
                lo, re_ = statistics.median(local[key]), statistics.median(remote[key])
                out.append(f"| {key} | {lo:.5f} | {re_:.5f} | {100 * (re_ - lo) / lo:+.1f}% |")
        out += ["", f"load average after: {os.getloadavg()}"]
    finally:
        cluster.stop()
    print("\n".join(out))


if __name__ == "__main__":
    main()
