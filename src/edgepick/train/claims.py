"""The source chapter's opinion table (../shared/seeds.md, section 4), claim by claim, beside what was measured.

Which measured variants speak for each of the chapter's rows is a choice, stated in every output:
- TensorFlow: its best Keras-on-TensorFlow variant (Keras is TensorFlow's training API since TF 2);
- PyTorch: its best variant (eager or torch.compile);
- Keras: the median over every Keras 3 variant (TensorFlow, TensorFlow+XLA, JAX, PyTorch backends);
- Caffe: no maintained training runtime installs here, so never measured.
Speed is time-to-accuracy (trimmed mean over seeds) where there is an accuracy target, else steady-state samples/s.
A claim "held" when the measured order of the measured rows matches the chapter's order for that row; where the
seeds' time-to-accuracy ranges (fastest to slowest seed), or without a target the p50-p90 step-time ranges,
overlap, the difference is "not resolved" rather than counted either way (a loaded machine can reorder close
frameworks between seeds).
"""

from __future__ import annotations

import statistics

CHAPTER = [  # framework, GPU support, training speed, ease of deployment (as printed in the chapter)
    ("TensorFlow", "strong", "fast", "average"),
    ("PyTorch", "strong", "very fast", "harder"),
    ("Keras", "average", "average", "easy"),
    ("Caffe", "strong", "fairly fast", "easy"),
]
_SPEED = {"very fast": 4, "fast": 3, "fairly fast": 2, "average": 1}
_DEPLOY = {"easy": 3, "average": 2, "harder": 1}
MAPPING = {"TensorFlow": "best of keras-tensorflow, keras-tensorflow-xla",
           "PyTorch": "best of pytorch, pytorch-compile",
           "Keras": "median over keras-tensorflow, keras-tensorflow-xla, keras-jax, keras-torch",
           "Caffe": "caffe (not installable here)"}
_MEMBERS = {"TensorFlow": ("keras-tensorflow", "keras-tensorflow-xla"), "PyTorch": ("pytorch", "pytorch-compile"),
            "Keras": ("keras-tensorflow", "keras-tensorflow-xla", "keras-jax", "keras-torch"), "Caffe": ("caffe",)}


def _speed(row: dict) -> tuple[float | None, tuple[float, float] | None, str]:
    """(speed, its spread over seeds, text): 1/time-to-accuracy with [1/slowest, 1/fastest], else samples/s."""
    tta = row.get("time_to_accuracy") or {}
    if row.get("time_to_accuracy_s"):
        spread = (1.0 / tta["max_s"], 1.0 / tta["min_s"]) if tta.get("min_s") and tta.get("max_s") else None
        return 1.0 / row["time_to_accuracy_s"], spread, f"{row['time_to_accuracy_s']:.2f} s to target"
    if row.get("samples_per_s"):
        step = row.get("step_ms") or {}
        spread = ((row["batch"] * 1e3 / step["p90"], row["batch"] * 1e3 / step["p50"])
                  if step.get("p50") and step.get("p90") and row.get("batch") else None)  # samples/s at p90 .. p50
        return row["samples_per_s"], spread, f"{row['samples_per_s']:.3g} samples/s"
    return None, None, "-"


def _reach(row: dict) -> tuple[float | None, tuple[float, float] | None, str]:
    d = row.get("deploy") or {}
    if d.get("agreed") is None:
        return None, None, "-"
    p50 = f", best p50 {d['best_p50_ms']:.3f} ms ({d['best_runtime']})" if d.get("best_p50_ms") else ""
    return float(d["agreed"]), None, f"{d['agreed']}/{d.get('tried', '?')} runtimes agree{p50}"


def _family_value(rows: dict, name: str, measure) -> tuple[float | None, tuple | None, str]:
    members = [rows[m] for m in _MEMBERS[name] if m in rows and rows[m]["status"] == "ok"]
    scored = [(v, spread, text, r["framework"]) for r in members for v, spread, text in [measure(r)] if v is not None]
    if not scored:
        return None, None, "not measured"
    if name == "Keras":
        value = statistics.median(v for v, *_ in scored)
        spreads = [s for _, s, _, _ in scored if s]
        spread = (statistics.median(s[0] for s in spreads), statistics.median(s[1] for s in spreads)) if spreads else None
        return value, spread, "median of " + "; ".join(f"{fw} {text}" for _, _, text, fw in scored)
    best = max(scored, key=lambda item: item[0])
    return best[0], best[1], f"{best[3]}: {best[2]}"


def _overlap(a: tuple | None, b: tuple | None) -> bool:
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]


def _verdicts(values: dict[str, tuple], claimed: dict[str, int]) -> dict[str, str]:
    """Per row: held, did not hold (a clear reversal against another measured row), or not resolved (the claimed
    difference lies within the seeds' spread)."""
    measured = {k: v for k, v in values.items() if v[0] is not None}
    out = {}
    for name in values:
        if name not in measured:
            out[name] = "not measured"
            continue
        others = [o for o in measured if o != name]
        if not others:
            out[name] = "nothing to compare with"
            continue
        (mine, my_spread), wrong, tied = measured[name][:2], [], []
        for o in others:
            theirs, their_spread = measured[o][:2]
            claim = claimed[name] - claimed[o]
            if claim != 0 and _overlap(my_spread, their_spread):
                tied.append(o)
            elif claim != 0 and mine == theirs:
                wrong.append(f"tied with {o}")
            elif claim * (mine - theirs) < 0:
                wrong.append(f"{'ahead of' if mine > theirs else 'behind'} {o}")
        if wrong:
            out[name] = "did not hold: " + ", ".join(wrong)
        elif tied:
            out[name] = "not resolved: within the seeds' spread of " + ", ".join(tied)
        else:
            out[name] = "held"
    return out


def compare_claims(rows: list[dict], deployed: bool) -> list[dict]:
    by_name = {r["framework"]: r for r in rows}
    speed = {name: _family_value(by_name, name, _speed) for name, *_ in CHAPTER}
    reach = {name: _family_value(by_name, name, _reach) for name, *_ in CHAPTER}
    speed_verdict = _verdicts(speed, {n: _SPEED[s] for n, _, s, _ in CHAPTER})
    reach_verdict = _verdicts(reach, {n: _DEPLOY[d] for n, _, _, d in CHAPTER})
    out = []
    for name, gpu, claimed_speed, claimed_deploy in CHAPTER:
        out.append({
            "framework": name, "measured_as": MAPPING[name],
            "gpu_support": {"claim": gpu, "measured": "not measured: CPU-only run", "verdict": "not measured"},
            "training_speed": {"claim": claimed_speed, "measured": speed[name][2], "verdict": speed_verdict[name]},
            "ease_of_deployment": {"claim": claimed_deploy,
                                   "measured": reach[name][2] if deployed else "not measured: run with --deploy",
                                   "verdict": reach_verdict[name] if deployed else "not measured"},
        })
    return out
