"""What the store's earlier runs on this CPU say about each candidate before it is measured (issue 23, item 2).

Each earlier row becomes a ratio: its p50 over the best p50 of its own run at its batch size (a pruned row's probe
ratio). A candidate's prediction is the median ratio of its runtime and precision over the runs of the same model on
this CPU, else over every model's runs on this CPU (the family we can tell apart without a model's graph). The search
orders the work by it; only --trust-history skips a candidate on it, and every row records the prediction and, once
measured, whether the measurement agreed.
"""

from __future__ import annotations

from statistics import median

from sqlalchemy import select

from edgepick.store.schema import CandidateRow as StoredRow
from edgepick.store.schema import RunRow

LOSES = 2.0  # history must show twice the best before it predicts a loss: old runs on a shared machine are noisy
RECENT_RUNS = 40


def predict(store, run, candidates) -> dict[str, dict]:
    """Candidate key -> {history_ratio, runs, same_model, predicted: 'loses' | 'contends'}; absent without history."""
    ratios = _ratios(store, run)
    out: dict[str, dict] = {}
    for c in candidates:
        found = ratios.get((c.runtime, c.precision, c.batch))
        if not found:
            continue
        same = [r for r, same_model in found if same_model]
        used = same or [r for r, _ in found]
        ratio = median(used)
        out[c.key] = {"history_ratio": round(ratio, 3), "runs": len(used), "same_model": bool(same),
                      "predicted": "loses" if ratio > LOSES else "contends"}
    return out


def check(rows: list[dict]) -> list[dict]:
    """Set prediction["measured_ratio"] and ["agreed"] on the rows that carry a prediction; returns them."""
    best = {}
    for r in rows:
        p50 = (r.get("latency_ms") or {}).get("p50")
        if r["status"] == "ok" and p50 and (r["batch"] not in best or p50 < best[r["batch"]]):
            best[r["batch"]] = p50
    changed = []
    for r in rows:
        prediction = r.get("prediction")
        measured = _ratio(r, best.get(r["batch"]))
        if prediction and measured is not None:
            prediction["measured_ratio"] = round(measured, 3)
            prediction["agreed"] = (measured > LOSES) == (prediction["predicted"] == "loses")
            changed.append(r)
    return changed


def _ratio(row: dict, best_p50: float | None) -> float | None:
    pruned = (row.get("probe") or {}).get("pruned")
    if row["status"] == "pruned" and pruned:
        return pruned["ratio"]
    p50 = (row.get("latency_ms") or {}).get("p50")
    return p50 / best_p50 if row["status"] == "ok" and p50 and best_p50 else None


def _ratios(store, run) -> dict[tuple, list[tuple[float, bool]]]:
    """(runtime, precision, batch) -> [(ratio to its run's best, same model)] over recent finished runs on this CPU."""
    here = _cpu(run.fingerprint)
    with store.session() as s:
        runs = s.execute(select(RunRow.id, RunRow.model_hash, RunRow.fingerprint).where(
            RunRow.status == "done", RunRow.id != run.id).order_by(RunRow.created_at.desc()).limit(RECENT_RUNS)).all()
        same_model = {r.id: r.model_hash == run.model_hash for r in runs if _cpu(r.fingerprint) == here}
        if not same_model:
            return {}
        stored = s.execute(select(StoredRow.run_id, StoredRow.runtime, StoredRow.precision, StoredRow.batch,
                                  StoredRow.status, StoredRow.metrics).where(StoredRow.run_id.in_(list(same_model)))).all()
    by_run: dict[str, list[dict]] = {}
    for r in stored:
        by_run.setdefault(r.run_id, []).append({"runtime": r.runtime, "precision": r.precision, "batch": r.batch,
                                                "status": r.status, **(r.metrics or {})})
    out: dict[tuple, list[tuple[float, bool]]] = {}
    for run_id, rows in by_run.items():
        best = {}
        for r in rows:
            p50 = (r.get("latency_ms") or {}).get("p50")
            if r["status"] == "ok" and p50 and (r["batch"] not in best or p50 < best[r["batch"]]):
                best[r["batch"]] = p50
        for r in rows:
            ratio = _ratio(r, best.get(r["batch"]))
            if ratio is not None:
                out.setdefault((r["runtime"], r["precision"], r["batch"]), []).append((ratio, same_model[run_id]))
    return out


def _cpu(fp: dict | None) -> tuple:
    fp = fp or {}
    return fp.get("cpu_model"), fp.get("arch"), fp.get("usable_cores")
