"""`python fuzz/run.py [--seconds 600] [target ...]`: fuzz each target for that long; findings go to fuzz/findings/.

`make fuzz` runs every target for 10 minutes. Each finding is the shrunk input Hypothesis reports, with the
exception it raised; turn each into a regression test (tests/test_hardening_fuzz.py) when fixing it.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets as t  # noqa: E402

COUNT = {"examples": 0}


def _counted(check):
    def run(value):
        COUNT["examples"] += 1
        COUNT["last"] = value  # Hypothesis replays the shrunk case last: this is what a finding saves
        check(value)
    return run


def _counted2(check):
    def run(first, second):
        COUNT["examples"] += 1
        COUNT["last"] = (first, second)
        check(first, second)
    return run


TARGETS = {
    "onnx": lambda: given(t.file_bytes("onnx"))(_counted(lambda d: t.check_model_file("onnx", d))),
    "pt2": lambda: given(t.file_bytes("pt2"))(_counted(lambda d: t.check_model_file("pt2", d))),
    "tflite": lambda: given(t.file_bytes("tflite"))(_counted(lambda d: t.check_model_file("tflite", d))),
    "keras": lambda: given(t.file_bytes("keras"))(_counted(lambda d: t.check_model_file("keras", d))),
    "caffe": lambda: given(t.file_bytes("prototxt"))(_counted(lambda d: t.check_model_file("prototxt", d))),
    "darknet": lambda: given(t.file_bytes("cfg"))(_counted(lambda d: t.check_model_file("cfg", d))),
    "input-shape": lambda: given(t.joined(t.SHAPE_TOKENS))(_counted(t.check_input_shape)),
    "budget": lambda: given(t.joined(t.BUDGET_TOKENS), t.joined(t.OBJECTIVE_TOKENS))(_counted2(t.check_budget)),
    "device-yaml": lambda: given(st.one_of(st.dictionaries(t.YAML_KEYS, t.YAML_VALUES).map(_yaml), st.text(max_size=200)))(
        _counted(t.check_device_yaml)),
    "npz-bytes": lambda: given(t.file_bytes("npz"))(_counted(t.check_npz_bytes)),
    "npz-arrays": lambda: given(_arrays())(_counted(t.check_npz_arrays)),
}


def _yaml(d: dict) -> str:
    import yaml

    return yaml.safe_dump(d, allow_unicode=True)


def _arrays():
    from hypothesis.extra import numpy as hnp

    dtypes = st.one_of(hnp.scalar_dtypes(), hnp.unicode_string_dtypes(), hnp.byte_string_dtypes(),
                       st.just(__import__("numpy").dtype(object)))
    array = dtypes.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, max_side=5),
                                                 elements=None if dt.kind != "O" else st.integers()))
    return st.dictionaries(st.sampled_from(["x", "y", "input", "other"]), array, min_size=1, max_size=3)


def fuzz(name: str, seconds: float, findings: Path) -> tuple[int, int]:
    COUNT["examples"] = 0
    found = set()
    test = settings(max_examples=200, deadline=None, database=None, phases=[Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck), print_blob=True)(TARGETS[name]())
    deadline = time.monotonic() + seconds  # after the seed file was made (a TFLite seed needs TensorFlow: ~30 s)
    while time.monotonic() < deadline and len(found) < 5:
        try:
            test()
        except HypothesisException:  # the harness itself is wrong: stop, do not count it as a finding
            raise
        except Exception as e:  # a finding: keep the shrunk case and go on looking for others
            key = f"{type(e).__name__} at {_where(e)}"  # one finding per place in edgepick, not per message
            if key not in found:
                found.add(key)
                out = findings / f"{name}-{len(found)}.txt"
                out.write_text(f"{key}: {str(e)[:300]}\n\ninput: {COUNT.get('last')!r}\n\n{traceback.format_exc()}")
                if isinstance(COUNT.get("last"), bytes):
                    out.with_suffix(".input").write_bytes(COUNT["last"])
                print(f"  finding in {name}: {key} -> {out}", flush=True)
    return COUNT["examples"], len(found)


def _where(e: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if "/edgepick/" in f.filename]
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "outside edgepick"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("targets", nargs="*", default=list(TARGETS))
    parser.add_argument("--seconds", type=float, default=600.0, help="per target")
    args = parser.parse_args()
    findings = Path(__file__).resolve().parent / "findings"
    findings.mkdir(exist_ok=True)
    total = 0
    for name in args.targets:
        t0 = time.monotonic()
        examples, found = fuzz(name, args.seconds, findings)
        total += found
        print(f"{name}: {examples} cases in {time.monotonic() - t0:.0f} s, {found} finding(s)", flush=True)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
