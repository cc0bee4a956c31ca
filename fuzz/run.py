"""`python fuzz/run.py [--seconds 600] [--jobs N] [--out summary.json] [target ...]`: fuzz each target that long.

`make fuzz` runs every target for FUZZ_SECONDS (default 600 = the issue's 10 minutes), FUZZ_JOBS at a time, and writes
the summary (per target: examples tried, seconds, findings, how it ended) to FUZZ_OUT. Each target runs in a process
of its own: a parser that crashes the process (a segfault in a native library) is a finding too, with the input that
did it (the child writes each input to fuzz/findings/TARGET.current before trying it). Each finding is the shrunk
input Hypothesis reports, with the exception it raised; turn each into a regression test (tests/tools/test_hardening_fuzz.py).
Exit code: 0 when no target found anything, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
FINDINGS = HERE / "findings"
COUNT = {"examples": 0}
MAX_FINDINGS = 20  # distinct places per target; past that the target keeps running, saving no more


def _counted(name: str, check, arity: int = 1):
    current = FINDINGS / f"{name}.current"

    def before(value, values) -> None:
        COUNT["examples"] += 1
        COUNT["last"] = values  # Hypothesis replays the shrunk case last: this is what a finding saves
        if isinstance(value, bytes):  # a crash of the process leaves this behind for the parent to keep
            current.write_bytes(value)

    def one(value):  # @given needs plain positional parameters, not *args
        before(value, value)
        check(value)

    def two(first, second):
        before(first, (first, second))
        check(first, second)
    return one if arity == 1 else two


def targets() -> dict:
    from hypothesis import given
    from hypothesis import strategies as st

    sys.path.insert(0, str(HERE))
    import targets as t

    def model(name: str, fmt: str):
        return lambda: given(t.file_bytes(fmt))(_counted(name, lambda d: t.check_model_file(fmt, d)))

    return {
        "onnx": model("onnx", "onnx"), "pt2": model("pt2", "pt2"), "tflite": model("tflite", "tflite"),
        "keras": model("keras", "keras"), "caffe": model("caffe", "prototxt"), "darknet": model("darknet", "cfg"),
        "input-shape": lambda: given(t.joined(t.SHAPE_TOKENS))(_counted("input-shape", t.check_input_shape)),
        "budget": lambda: given(t.joined(t.BUDGET_TOKENS), t.joined(t.OBJECTIVE_TOKENS))(
            _counted("budget", t.check_budget, 2)),
        "device-yaml": lambda: given(st.one_of(st.dictionaries(t.YAML_KEYS, t.YAML_VALUES).map(_yaml),
                                               st.text(max_size=200)))(_counted("device-yaml", t.check_device_yaml)),
        "npz-bytes": lambda: given(t.file_bytes("npz"))(_counted("npz-bytes", t.check_npz_bytes)),
        "npz-arrays": lambda: given(_arrays())(_counted("npz-arrays", t.check_npz_arrays)),
        # a real `edgepick serve` and a real exported bundle, made before the clock starts (a sweep: ~20 s)
        "http-body": lambda: _after(t.server, given(t.http_bodies())(_counted("http-body", t.check_http_body))),
        "infer-args": lambda: _after(t.bundle, given(t.npz_files(), t.infer_argvs())(
            _counted("infer-args", t.check_infer_args, 2))),
    }


def _after(setup, test):
    setup()
    return test


NAMES = ["onnx", "pt2", "tflite", "keras", "caffe", "darknet", "input-shape", "budget", "device-yaml", "npz-bytes",
         "npz-arrays", "http-body", "infer-args"]


def _yaml(d: dict) -> str:
    import yaml

    return yaml.safe_dump(d, allow_unicode=True)


def _arrays():
    import numpy as np
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    dtypes = st.one_of(hnp.scalar_dtypes(), hnp.unicode_string_dtypes(), hnp.byte_string_dtypes(),
                       st.just(np.dtype(object)))
    array = dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
                                                 elements=None if dt.kind != "O" else st.integers()))
    return st.dictionaries(st.sampled_from(["x", "y", "input", "other"]), array, min_size=1, max_size=3)


def fuzz(name: str, seconds: float) -> dict:
    """One target in this process, for `seconds` after its seed file is made; returns its summary."""
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.errors import FlakyFailure, HypothesisException

    COUNT["examples"] = 0
    found: list[str] = []
    test = settings(max_examples=200, deadline=None, database=None, phases=[Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck), print_blob=True)(targets()[name]())
    started = time.monotonic()  # after the seed was made (a TFLite seed needs TensorFlow: ~30 s)
    while time.monotonic() < started + seconds:  # the whole time, findings or not (at least 10 min in `make fuzz`)
        try:
            test()
        except FlakyFailure as e:  # it failed, then passed when replayed (a race, a timeout under load): a finding
            _found(name, "flaky " + _key(e.exceptions[0]), e, found)
        except HypothesisException:  # the harness itself is wrong: stop, do not count it as a finding
            raise
        except Exception as e:  # a finding: keep the shrunk case and go on looking for others
            _found(name, _key(e), e, found)
    (FINDINGS / f"{name}.current").unlink(missing_ok=True)
    return {"target": name, "examples": COUNT["examples"], "seconds": round(time.monotonic() - started, 1),
            "findings": len(found), "finding_keys": found, "ended": "ok"}


def _found(name: str, key: str, e: BaseException, found: list[str]) -> None:
    """Keep the first shrunk case of each kind (key), its input and traceback, under fuzz/findings/."""
    if key in found or len(found) >= MAX_FINDINGS:
        return
    found.append(key)
    out = FINDINGS / f"{name}-{len(found)}.txt"
    text = "".join(traceback.format_exception(e))
    out.write_text(f"{key}: {str(e)[:300]}\n\ninput: {COUNT.get('last')!r}\n\n{text}")
    if isinstance(COUNT.get("last"), bytes):
        out.with_suffix(".input").write_bytes(COUNT["last"])
    print(f"  finding in {name}: {key} -> {out}", flush=True)


def _key(e: BaseException) -> str:
    """One finding per place in edgepick, not per message; the process targets name the broken contract (fuzz_key)."""
    subs = getattr(e, "exceptions", None)  # an ExceptionGroup: Hypothesis found several distinct failures in one batch
    if isinstance(subs, (list, tuple)) and subs:
        return " + ".join(sorted({_key(x) for x in subs}))
    return getattr(e, "fuzz_key", None) or f"{type(e).__name__} at {_where(e)}"


def _where(e: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/edgepick/" in f.filename]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "outside edgepick"


def _child_summary(name: str, proc: subprocess.Popen, out: Path, started: float) -> dict:
    """The child's own summary, or, when the process died (a native crash), a finding with the input it died on."""
    if proc.returncode == 0 and out.exists():
        return json.loads(out.read_text())
    how = f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0 else f"exit {proc.returncode}"
    current = FINDINGS / f"{name}.current"
    kept = None
    if current.exists():
        kept = FINDINGS / f"{name}-crash-{int(time.time())}.input"
        current.rename(kept)
    print(f"  finding in {name}: the fuzzing process was {how}" + (f"; input -> {kept}" if kept else ""), flush=True)
    return {"target": name, "examples": None, "seconds": round(time.monotonic() - started, 1), "findings": 1,
            "finding_keys": [f"process {how}"], "ended": how, "crash_input": str(kept) if kept else None}


def run_all(names: list[str], seconds: float, jobs: int) -> list[dict]:
    """Each target in its own process, `jobs` at a time."""
    pending, running, done = list(names), {}, []
    while pending or running:
        while pending and len(running) < max(1, jobs):
            name = pending.pop(0)
            out = FINDINGS / f"{name}.summary.json"
            out.unlink(missing_ok=True)
            log = open(FINDINGS / f"{name}.log", "w")
            proc = subprocess.Popen([sys.executable, __file__, "--child", name, "--seconds", str(seconds), "--out", str(out)],
                                    stdout=log, stderr=subprocess.STDOUT)
            running[name] = (proc, out, time.monotonic(), log)
        time.sleep(0.5)
        for name, (proc, out, started, log) in list(running.items()):
            if proc.poll() is not None:
                log.close()
                summary = _child_summary(name, proc, out, started)
                done.append(summary)
                del running[name]
                print(f"{name}: {summary['examples']} cases in {summary['seconds']:.0f} s, "
                      f"{summary['findings']} finding(s)", flush=True)
    return sorted(done, key=lambda s: names.index(s["target"]))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("targets", nargs="*", default=NAMES)
    parser.add_argument("--seconds", type=float, default=600.0, help="per target (default 600: 10 minutes)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("FUZZ_JOBS", "1")), help="targets at a time")
    parser.add_argument("--out", default=str(FINDINGS / "summary.json"), help="where the summary JSON goes")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    FINDINGS.mkdir(exist_ok=True)
    if args.child:  # one target, in this process
        Path(args.out).write_text(json.dumps(fuzz(args.child, args.seconds)))
        return 0
    unknown = [n for n in args.targets if n not in NAMES]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(NAMES)}")
    t0 = time.monotonic()
    summary = run_all(args.targets, args.seconds, args.jobs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"seconds_per_target": args.seconds, "jobs": args.jobs,
                               "wall_s": round(time.monotonic() - t0, 1), "targets": summary}, indent=2))
    print(f"summary -> {out}")
    return 1 if any(s["findings"] for s in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
