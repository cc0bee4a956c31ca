"""Find and stop the processes of one Ray node on this machine (for `edgepick device leave`, and the tests).

`ray stop` stops every Ray node this user runs here; a host that offers two slices of itself as two devices, or that
also runs the head, needs to stop one node only. A node's raylet carries its resources on its command line
(`edgepick-device:NAME`), and the node's workers and agents are the raylet's children.
"""

from __future__ import annotations

import psutil


def device_raylets(name: str) -> list[psutil.Process]:
    marker = f"edgepick-device:{name}"
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if "raylet" in (proc.info["name"] or "") and marker in cmd:
            found.append(proc)
    return found


def stop_tree(root: psutil.Process, timeout_s: float = 10.0) -> int:
    """SIGTERM the process and its descendants, SIGKILL what is left after timeout_s; returns how many."""
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            p.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass
    return len(procs)


def stop_device_node(name: str) -> int:
    return sum(stop_tree(raylet) for raylet in device_raylets(name))
