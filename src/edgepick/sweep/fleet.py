"""The sweep over a device fleet (`edgepick run MODEL --on dev-a,dev-b`): devices in parallel, rows in any order.

The head converts every candidate once (cached by content hash, as for a local sweep); then one scheduler thread per
device measures that device's candidates one after the other through its RayDeviceLauncher (Ray runs one task at a
time there: the task holds the device's resource `edgepick-device:NAME`, quantity 1), and the main thread stores
each row the moment it arrives, whichever device it comes from. The measuring code is the local sweep's own
(`sweep._Sweep.measure`), run in a context whose current launcher is the device's (launch/base.py): equivalence
against the head's reference, accuracy and row layout are identical; each row gains "device": {name, fingerprint}
and its key gains "@NAME". A device that is lost gives `device-lost` rows for what it had left; those rows are
measured again by the next run of the same command (same run id), the others are reused.

Compression follow-ups (INT8 with its most sensitive nodes back in float) run round by round on every device
(sweep._Sweep.sweep_on_fleet). Not in fleet mode (yet): interleaved windows and the roofline (its peak is measured on
the head, not on the device).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from edgepick.core import errors
from edgepick.launch import base as launch
from edgepick.sweep import racing, search


def device_key(key: str, device: str) -> str:
    return f"{key}@{device}"


class Fleet:
    def __init__(self, launchers: dict):
        self.launchers = launchers  # {device name: RayDeviceLauncher}

    @classmethod
    def open(cls, spec: str, address: str | None = None) -> Fleet:
        from edgepick.launch import device_agent, ray_device

        ray_device.connect(address)
        names = ray_device.resolve(spec)
        joined = ray_device.registered()
        launchers = {}
        for name in names:
            launchers[name] = ray_device.RayDeviceLauncher(name, ray_device.probe(name))
            if name not in joined and launchers[name].device["fingerprint"]:  # registered at first contact
                ray_device.register(name, launchers[name].device["fingerprint"])
            # a device that now reports another fingerprint than when it joined (a runtime upgraded): recorded
            changed = device_agent.fingerprint_changes((joined.get(name) or {}).get("fingerprint"),
                                                     launchers[name].device["fingerprint"])
            if changed:
                launchers[name].device["fingerprint_changed_since_join"] = changed
        return cls(launchers)

    def sweep(self, candidates: list, done: dict, run_dir: Path, notify: Callable, request, convert: Callable,
              measure_one: Callable, save: Callable) -> list[dict]:
        """Measure every (candidate, device) pair not already done; returns all rows, reused ones included.
        convert(cand) converts once (here, before the devices start); measure_one(cand, device_run_dir) -> row;
        save(row) stores it, always from this thread, as rows arrive. Each device races apart (sweep/search.py): its
        own bar from its own probes, likely winners first."""
        candidates = [_on_device(c) for c in candidates]
        for cand in candidates:
            if not cand.blocked:
                convert(cand)
        rows, todo = [], {name: [] for name in self.launchers}
        for name in self.launchers:
            for cand in candidates:
                key = device_key(cand.key, name)
                if key in done and done[key].get("reason_class") != errors.DEVICE_LOST:
                    rows.append(done[key])
                    notify("reused", {"key": key})
                else:
                    todo[name].append(cand)
        arrived: queue.Queue = queue.Queue()
        threads = [threading.Thread(target=self._device_loop, args=(name, todo[name], measure_one, run_dir, arrived,
                                                                     notify, request), daemon=True, name=f"edgepick-{name}")
                   for name in self.launchers]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads) or not arrived.empty():
            try:
                row = arrived.get(timeout=0.2)
            except queue.Empty:
                continue
            save(row)
            at = next((i for i, r in enumerate(rows) if r["key"] == row["key"]), None)
            if at is None:
                rows.append(row)
            else:  # a row changed since (its verdicts across precisions), or measured again (its bar fell)
                rows[at] = row
            notify("measured", {"key": row["key"], "status": row["status"]})
        order = {device_key(c.key, n): i for i, (n, c) in enumerate((n, c) for c in candidates for n in self.launchers)}
        return sorted(rows, key=lambda r: order.get(r["key"], len(order)))

    def _device_loop(self, name: str, cands: list, measure_one: Callable, run_dir: Path, arrived: queue.Queue,
                     notify: Callable, request) -> None:
        launcher = self.launchers[name]
        race = racing.device_race(request)  # this thread's; the measurement reads it through racing.race_here

        def measured(cand) -> dict:
            key = device_key(cand.key, name)
            notify("measuring", {"key": key})
            try:
                row = measure_one(cand, run_dir / "devices" / name)
            except Exception as e:  # a bug or a broken file must not cost the other rows of this device
                row = {"key": cand.key, "runtime": cand.runtime, "precision": cand.precision, "threads": cand.threads,
                       "batch": cand.batch, "status": "failed", "reason_class": errors.CRASH,
                       "reason": f"{type(e).__name__} while measuring on {name}: {str(e)[:300]}"}
            if row.get("reason"):  # runtimes' own messages may span lines; a reason is one line in every output
                row["reason"] = " ".join(row["reason"].split())
            row["key"] = key
            row["device"] = launcher.device  # before the race reconciles it with this device's other rows
            if launcher.device and (launcher.device.get("fingerprint") or {}).get("device_cores"):
                row["cores"] = launcher.device["fingerprint"]["device_cores"][: max(1, cand.threads)]
            return row

        def recorded(cand, row: dict) -> None:
            for r in (row, *race.record(cand, row)):
                arrived.put(r)

        race.expect(cands, {})
        with launch.using(launcher):
            for cand in search.order(cands, {}):
                recorded(cand, measured(cand))
            race.finish(measured, recorded)  # the rows probed before any bar, then those whose bar fell

    def after_sweep(self, rows: list[dict], spec, artifacts_root, run_dir: Path, inputs_path: Path, request,
                    pick_best, notify=None) -> list[dict]:
        """--repeats windows on each row's own device; the roofline is not computed for device rows."""
        from edgepick.rigor.repeats import repeat_windows

        changed = []
        for name, launcher in self.launchers.items():
            mine = [r for r in rows if (r.get("device") or {}).get("name") == name]
            with launch.using(launcher):
                changed += repeat_windows(mine, run_dir / "devices" / name, inputs_path, request, notify)
        for row in rows:
            if row.get("status") == "ok" and not row.get("roofline"):
                row["roofline"] = {"unavailable": "the roofline's peak is measured on the head, not on the device"}
                changed.append(row)
        return changed

    def close(self) -> None:
        """Leave the cluster: Ray's driver threads (which print cluster events) stop with it."""
        import ray

        ray.shutdown()

    def summary(self, rows: list[dict], settings: dict | None, reference_accuracy: float | None) -> dict:
        from edgepick.select.fleet import pick_per_device

        _, _, per_device = pick_per_device(rows, settings, reference_accuracy)
        return {"devices": {name: {**per_device.get(name, {}), "fingerprint": launcher.device.get("fingerprint")}
                            for name, launcher in self.launchers.items()}}


def _on_device(cand):
    """A device may have runtimes the head lacks: the head only converts, the device says whether it can load."""
    if cand.blocked and cand.blocked[0] == errors.NOT_INSTALLED:
        return replace(cand, blocked=None)
    return cand
