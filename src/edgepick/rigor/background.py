"""A documented, reproducible background load: what else the device is doing while a candidate runs.

`--background-load N` starts N processes (`python -m edgepick.rigor.background CORE`) before a candidate's worker
and stops them after it, so the whole candidate (steady state and frame loop) is measured under the same load. Each
process is pinned to one core, preferring cores the worker is not pinned to (then the load competes for shared
caches, memory bandwidth and the package's power budget, as a second app on a phone does); when there are not
enough free cores it shares the worker's cores (then it also competes for the core itself), and the row says which.

Each process loops, single-threaded (OMP/OpenBLAS/MKL threads = 1), without pause:
  memory: np.copyto between two 32 MiB float32 buffers (64 MiB moved per pass: larger than the LLC of most CPUs,
          so it streams DRAM bandwidth)
  CPU:    4 x a 256x256 float32 matmul (134 MFLOP per pass)
Buffers are seeded (numpy default_rng(0)); the work per pass is fixed, so the passes/s each process reports
measure how much the candidate slowed the load down as well.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np

BUFFER_MB = 32
MATMUL_N = 256
MATMULS_PER_PASS = 4
DESCRIPTION = (f"per core: np.copyto of a {BUFFER_MB} MiB float32 buffer ({2 * BUFFER_MB} MiB moved) + "
               f"{MATMULS_PER_PASS} x {MATMUL_N}x{MATMUL_N} float32 matmul per pass, single-threaded, no pause")
_SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def choose_cores(n: int, worker_cores: list[int]) -> tuple[list[int], list[int]]:
    """(cores for the n load processes, those of them shared with the worker): free cores first, lowest id first."""
    usable = sorted(os.sched_getaffinity(0))
    free = [c for c in usable if c not in worker_cores]
    order = free + [c for c in usable if c in worker_cores]
    chosen = [order[i % len(order)] for i in range(n)]
    return chosen, sorted({c for c in chosen if c in worker_cores})


class BackgroundLoad:
    def __init__(self, n: int, worker_cores: list[int]):
        # one process per usable core at most: more only measures the scheduler's run queue (the CLI refuses more)
        self.cores, self.shared = choose_cores(min(n, len(os.sched_getaffinity(0))), worker_cores)
        self.procs: list[subprocess.Popen] = []
        self.started = 0.0

    def start(self) -> None:
        env = dict(os.environ, **_SINGLE_THREAD)
        for core in self.cores:
            # under worker/child.py, like the workers: if this process is killed (even SIGKILL) the kernel kills the
            # load too (PR_SET_PDEATHSIG); it used to be left running, parentless, on every core
            self.procs.append(subprocess.Popen([sys.executable, "-m", "edgepick.worker.child", str(os.getpid()),
                                                "edgepick.rigor.background", str(core)],
                                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                                               start_new_session=True))
        for proc in self.procs:  # the load is on before the worker starts: each says "ready" after its first pass
            proc.stdout.readline()
        self.started = time.monotonic()

    def stop(self) -> dict:
        passes = []
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                out, _ = proc.communicate(timeout=10)
                passes.append(float(out.split()[-1]) if out.split() else None)
            except (subprocess.TimeoutExpired, ValueError):
                proc.kill()
                passes.append(None)
        return {"cores": len(self.cores), "pinned_to": self.cores, "shared_with_worker": self.shared,
                "placement": "shares the worker's cores " + str(self.shared) if self.shared else "cores the worker does not use",
                "kind": DESCRIPTION, "seconds": time.monotonic() - self.started, "passes_per_s": passes}


def measured_under_load(settings: dict | None, worker_cores: list[int], measure):
    """Call measure() with the background load of settings['background_load'] cores around it (none: just call it);
    the load's record goes into result['realtime']['background']."""
    n = (settings or {}).get("background_load") or 0
    if n <= 0:
        return measure()
    load = BackgroundLoad(n, worker_cores)
    load.start()
    try:
        result = measure()
    finally:
        info = load.stop()
    realtime = result.get("realtime") or {}
    result["realtime"] = {**realtime, "background": info}
    return result


def _main(core: int) -> None:
    """One load process: pinned to `core`, passes until SIGTERM, then prints its passes per second."""
    os.sched_setaffinity(0, [core])
    rng = np.random.default_rng(0)
    src = rng.standard_normal(BUFFER_MB * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    a = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    b = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    passes, t0 = 0, time.perf_counter()
    while not stopping:
        np.copyto(dst, src)
        for _ in range(MATMULS_PER_PASS):
            np.matmul(a, b)
        passes += 1
        if passes == 1:
            print("ready", flush=True)
    print(passes / (time.perf_counter() - t0), flush=True)


if __name__ == "__main__":
    _main(int(sys.argv[1]))
