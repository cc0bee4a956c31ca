"""The source chapter's opinion table (../shared/seeds.md, section 4), claim by claim, beside what was measured.

Which measured variants speak for each of the chapter's rows is a choice, stated in every output:
- TensorFlow: its best Keras-on-TensorFlow variant (Keras is TensorFlow's training API since TF 2);
- PyTorch: its best variant (eager or torch.compile);
- Keras: the median over every Keras 3 variant (TensorFlow, TensorFlow+XLA, JAX, PyTorch backends);
- Caffe: no maintained training runtime installs here, so never measured.
Speed is time-to-accuracy (trimmed mean over seeds) where there is an accuracy target, else steady-state samples/s.
A claim "held" when the measured order of the measured rows matches the chapter's order for that row.
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


def _speed(row: dict) -> tuple[float | None, str]:
    if row.get("time_to_accuracy_s"):
        return 1.0 / row["time_to_accuracy_s"], f"{row['time_to_accuracy_s']:.2f} s to target"
    if row.get("samples_per_s"):
        return row["samples_per_s"], f"{row['samples_per_s']:.0f} samples/s"
    return None, "-"


def _reach(row: dict) -> tuple[float | None, str]:
    d = row.get("deploy") or {}
    if d.get("agreed") is None:
        return None, "-"
    p50 = f", best p50 {d['best_p50_ms']:.3f} ms ({d['best_runtime']})" if d.get("best_p50_ms") else ""
    return float(d["agreed"]), f"{d['agreed']}/{d.get('tried', '?')} runtimes agree{p50}"


def _family_value(rows: dict, name: str, measure) -> tuple[float | None, str]:
    members = [rows[m] for m in _MEMBERS[name] if m in rows and rows[m]["status"] == "ok"]
    scored = [(v, text, r["framework"]) for r in members for v, text in [measure(r)] if v is not None]
    if not scored:
        return None, "not measured"
    if name == "Keras":
        value = statistics.median(v for v, _, _ in scored)
        return value, "median of " + "; ".join(f"{fw} {text}" for _, text, fw in scored)
    best = max(scored)
    return best[0], f"{best[2]}: {best[1]}"


def _verdicts(values: dict[str, float | None], claimed: dict[str, int], higher: str) -> dict[str, str]:
    measured = {k: v for k, v in values.items() if v is not None}
    out = {}
    for name in values:
        if name not in measured:
            out[name] = "not measured"
            continue
        others = [o for o in measured if o != name]
        if not others:
            out[name] = "nothing to compare with"
            continue
        wrong = [o for o in others if (claimed[name] - claimed[o]) * (measured[name] - measured[o]) < 0
                 or (claimed[name] != claimed[o] and measured[name] == measured[o])]
        if wrong:
            out[name] = "did not hold: " + ", ".join(
                f"{'tied with' if measured[name] == measured[o] else (higher if measured[name] > measured[o] else 'behind')} {o}"
                for o in wrong)
        else:
            out[name] = "held"
    return out


def compare_claims(rows: list[dict], deployed: bool) -> list[dict]:
    by_name = {r["framework"]: r for r in rows}
    speed = {name: _family_value(by_name, name, _speed) for name, *_ in CHAPTER}
    reach = {name: _family_value(by_name, name, _reach) for name, *_ in CHAPTER}
    speed_verdict = _verdicts({k: v[0] for k, v in speed.items()}, {n: _SPEED[s] for n, _, s, _ in CHAPTER}, "ahead of")
    reach_verdict = _verdicts({k: v[0] for k, v in reach.items()}, {n: _DEPLOY[d] for n, _, _, d in CHAPTER}, "ahead of")
    out = []
    for name, gpu, claimed_speed, claimed_deploy in CHAPTER:
        out.append({
            "framework": name, "measured_as": MAPPING[name],
            "gpu_support": {"claim": gpu, "measured": "not measured: CPU-only run", "verdict": "not measured"},
            "training_speed": {"claim": claimed_speed, "measured": speed[name][1], "verdict": speed_verdict[name]},
            "ease_of_deployment": {"claim": claimed_deploy,
                                   "measured": reach[name][1] if deployed else "not measured: run with --deploy",
                                   "verdict": reach_verdict[name] if deployed else "not measured"},
        })
    return out
