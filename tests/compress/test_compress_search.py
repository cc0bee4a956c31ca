"""The accuracy-aware search's rules on fixed data: tolerance parsing, verdicts, and the stopping rule."""

from __future__ import annotations

import numpy as np
import pytest

from edgepick.compress import search
from edgepick.compress.calib import calibration_set
from edgepick.compress.flags import verdicts
from edgepick.compress.metrics import BUILTIN, parse_drop, resolve_metric
from edgepick.compress.plan import expand
from edgepick.core.errors import UserError


def _row(key, p50, status="ok", batch=1, **extra):
    return {"key": key, "runtime": key.split("/")[0], "threads": 1, "batch": batch, "status": status,
            "latency_ms": {"p50": p50}, **extra}


def test_fastest_passing_config_wins_not_the_first_that_passes():
    rows = [_row("onnxruntime/fp32/t1/b1", 10.0),
            _row("onnxruntime/int8-static-minmax/t1/b1", 6.0),  # the first that passes
            _row("onnxruntime/int8-static-entropy/t1/b1", 3.0, status="disagrees"),  # fastest, but over tolerance
            _row("onnxruntime/int8-static-percentile/t1/b1", 4.0),  # the fastest that passes
            _row("onnxruntime/int8-dynamic/t1/b8", 1.0, batch=8)]  # a larger batch: compared for throughput only
    assert search.fastest_within(rows)["key"] == "onnxruntime/int8-static-percentile/t1/b1"


def test_no_passing_config_gives_none():
    assert search.fastest_within([_row("a/x/t1/b1", 1.0, status="disagrees")]) is None


@pytest.mark.parametrize("text,value,relative", [("1%", 0.01, True), ("0.5%", 0.005, True), ("0.01abs", 0.01, False),
                                                 ("0.02rel", 0.02, True), (None, 0.01, True)])
def test_parse_drop(text, value, relative):
    tol = parse_drop(text)
    assert tol.value == pytest.approx(value) and tol.relative is relative
    assert ("relative" if relative else "absolute") in tol.describe()


@pytest.mark.parametrize("bad", ["0.01", "1 percent", "abs", "-1%"])
def test_parse_drop_refuses_ambiguous_or_malformed(bad):
    with pytest.raises(UserError):
        parse_drop(bad)


def test_relative_and_absolute_drops_differ():
    rel, absolute = parse_drop("1%"), parse_drop("0.01abs")
    # 0.50 -> 0.496: 0.8% relative (passes 1%), 0.004 absolute (passes 0.01)
    assert rel.passes(0.5, 0.496) and absolute.passes(0.5, 0.496)
    # 0.50 -> 0.492: 1.6% relative (fails), 0.008 absolute (passes)
    assert not rel.passes(0.5, 0.492) and absolute.passes(0.5, 0.492)


class _Setup:
    def __init__(self, labels, reference, tol="1%"):
        self.metric = resolve_metric(None, labels is not None)
        self.tolerance = parse_drop(tol)
        self.data = type("D", (), {"labels": labels})()
        self.reference = reference
        self.reference_score = self.metric.score(reference, labels, reference)


def test_judge_passes_and_fails_on_the_metric_drop():
    labels = np.array([0, 1, 2, 3] * 25)
    ref = [np.eye(4)[labels]]
    cs = _Setup(labels, ref)
    row = {"status": "disagrees"}
    search.judge(row, ref, cs)  # identical outputs: no drop
    assert row["status"] == "ok" and row["metric"]["drop"] == 0.0
    worse = np.eye(4)[labels].copy()
    worse[:2] = np.eye(4)[(labels[:2] + 1) % 4]  # 2 of 100 wrong: 2% relative drop > 1%
    row = {"status": "ok"}
    search.judge(row, [worse], cs)
    assert row["status"] == "disagrees" and "1% relative" in row["reason"]
    assert row["metric"]["drop"] == pytest.approx(0.02)


def test_metrics_top5_cosine_mse():
    logits = np.array([[0.0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]])
    labels = np.array([0, 0])
    assert BUILTIN["top1"].score([logits], labels, None) == 0.5
    assert BUILTIN["top5"].score([logits], labels, None) == 0.5  # label 0 is 6th of 6 in row one
    assert BUILTIN["cosine"].score([logits], None, [logits]) == pytest.approx(1.0)
    assert BUILTIN["cosine"].score([-logits], None, [logits]) == pytest.approx(-1.0)
    assert BUILTIN["mse"].score([logits + 1], None, [logits]) == pytest.approx(-1.0)
    with pytest.raises(UserError):
        resolve_metric("top1", has_labels=False)


def test_expand_labels_into_concrete_configs():
    labels = [c[1] for c in expand(["int8-static", "int8-dynamic", "fp16"])]
    for want in ("int8-static-minmax", "int8-static-entropy", "int8-static-percentile", "int8-static-nncf",
                 "int8-static-nncf-ac", "int8-dynamic", "int8-dynamic-pc", "fp16"):
        assert want in labels
    assert [c[1] for c in expand(["int8-static-entropy"])] == ["int8-static-entropy"]
    with pytest.raises(UserError):
        expand(["int4-magic"])


def test_calibration_subset_is_fixed_and_recorded():
    x = {"input": np.arange(300 * 4, dtype=np.float32).reshape(300, 4)}
    a = calibration_set(None, x, "eval.npz", None, size=50)
    b = calibration_set(None, x, "eval.npz", None, size=50)
    assert a.size == 50 and a.seed == 0 and a.sha256 == b.sha256
    assert "eval.npz" in a.describe()["source"]
    c = calibration_set(None, x, "eval.npz", None, size=60)
    assert c.sha256 != a.sha256


def test_int8_flag_outcome_is_checked_against_the_fp32_row():
    rows = [_row("onnxruntime/fp32/t1/b1", 10.0, precision="fp32"),
            _row("onnxruntime/int8-dynamic/t1/b1", 12.0, compression={"int8_flag": {"likely_slower": True, "why": ["x"]}}),
            _row("onnxruntime/int8-static-minmax/t1/b1", 5.0,
                 compression={"int8_flag": {"likely_slower": True, "why": ["x"]}})]
    verdicts(rows)
    assert rows[1]["compression"]["int8_flag"]["flag_right"] is True
    assert rows[2]["compression"]["int8_flag"]["flag_right"] is False
    assert rows[2]["compression"]["int8_flag"]["speedup_vs_fp32"] == pytest.approx(2.0)


def test_image_folder_data(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    from edgepick.inputs.data import read_data_arg
    from edgepick.inputs.signature import Signature, TensorSpec

    for label, value in (("cat", 40), ("dog", 200)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.fromarray(np.full((10, 12), value + i, dtype=np.uint8)).save(tmp_path / label / f"{i}.png")
    sig = Signature([TensorSpec("input", [None, 1, 8, 8], "float32", batch_dynamic=True)])
    x, y, source = read_data_arg(str(tmp_path), sig, 100)
    assert x["input"].shape == (6, 1, 8, 8) and list(y) == [0, 0, 0, 1, 1, 1]
    assert x["input"][0].max() == pytest.approx(40 / 255, abs=1e-6) and "cat" in source


@pytest.mark.parametrize("args,needle", [(["--compress", "int4-magic"], "unknown compression"),
                                         (["--max-acc-drop", "1%"], "add --compress"),
                                         (["--compress", "int8-dynamic", "--max-acc-drop", "0.01"], "ambiguous"),
                                         (["--compress", "int8-dynamic", "--metric", "top1"], "needs labels")])
def test_cli_compress_mistakes_are_one_line(home, tiny_onnx, args, needle):
    from tests.helpers import cli

    proc = cli("run", str(tiny_onnx), "--runtimes", "onnxruntime", *args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert needle in proc.stderr, proc.stderr


def test_two_compressors_with_one_label_do_not_share_a_cache(tmp_path):
    from edgepick.compress.plan import _cache_dir

    x = {"input": np.zeros((4, 2), np.float32)}
    calib = calibration_set(None, x, "eval", None, size=4)
    tol = parse_drop("1%")
    names = [name for name, label, _ in expand(["fp16"]) if label == "fp16"]
    assert set(names) == {"fp16-onnx", "fp16-openvino"}
    dirs = {_cache_dir(tmp_path, n, "fp16", {}, calib, tol, "top1") for n in names}
    assert len(dirs) == 2
