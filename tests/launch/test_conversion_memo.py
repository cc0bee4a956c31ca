"""A conversion made and checked before is found again without a worker (launch/conversion_memo.py, issue 23).

A real sweep twice on a real converter (ONNX -> OpenVINO IR): the second, forced run reuses the conversion with no
conversion worker; and the memo is refused whenever what it vouches for could differ or its files are gone.
"""

from __future__ import annotations

import shutil

import edgepick
from edgepick.launch import conversion_memo


def _run_dirs(home):
    return sorted((home / "runs").glob("*/"), key=lambda d: d.stat().st_mtime)


def test_a_second_run_reuses_the_checked_conversion_without_a_worker(home, tiny_onnx, fast):
    first = edgepick.pick(str(tiny_onnx), runtimes=["openvino"], precisions="fp32", timing=fast)
    (first_dir,) = _run_dirs(home)
    assert (first_dir / "convert" / "onnx-to-openvino").is_dir()  # the first made it in a worker
    steps = first.rows[0]["conversion"]
    assert [s["converter"] for s in steps] == ["onnx-to-openvino"] and not steps[0]["cached"]
    again = edgepick.pick(str(tiny_onnx), runtimes=["openvino"], precisions="fp32", timing=fast, force=True)
    second_dir = next(d for d in _run_dirs(home) if d != first_dir)
    assert not (second_dir / "convert").exists()  # no conversion worker at all
    row = again.rows[0]
    assert row["status"] == "ok" and row["artifact"] == first.rows[0]["artifact"]
    assert [dict(s, cached=False) for s in row["conversion"]] == steps and row["conversion"][0]["cached"]

    # the artifact gone: the memo is not trusted, the worker converts again
    shutil.rmtree(home / "artifacts")
    third = edgepick.pick(str(tiny_onnx), runtimes=["openvino"], precisions="fp32", timing=fast, force=True)
    third_dir = next(d for d in _run_dirs(home) if d not in (first_dir, second_dir))
    assert (third_dir / "convert" / "onnx-to-openvino").is_dir() and third.rows[0]["status"] == "ok"


def _job(tmp_path, tolerance=1e-4) -> dict:
    (tmp_path / "inputs.npz").write_bytes(b"inputs")
    (tmp_path / "ref.npz").write_bytes(b"reference")
    return {"path": ["onnx-to-openvino"], "signature": {"inputs": []}, "tolerance": {"atol": tolerance},
            "inputs": str(tmp_path / "inputs.npz"), "reference": str(tmp_path / "ref.npz")}


def test_the_memo_is_keyed_on_what_the_check_read_and_refuses_what_it_cannot_vouch_for(tmp_path):
    root = tmp_path / "artifacts"
    (root / "onnx-to-openvino").mkdir(parents=True)
    (root / "onnx-to-openvino" / "model.xml").write_text("<net/>")
    job = _job(tmp_path)
    record = conversion_memo.record_path(job, root, "abc")
    assert conversion_memo.lookup(record, root) is None  # nothing kept yet
    artifact = {"format": "openvino-ir", "path": str(root / "onnx-to-openvino" / "model.xml"), "meta": {}}
    conversion_memo.keep(record, artifact, [{"converter": "onnx-to-openvino", "seconds": 0.3, "cached": False}])
    found = conversion_memo.lookup(record, root)
    assert found["artifact"] == artifact and found["steps"][0]["cached"] is True

    # other eval inputs, another reference, another tolerance or another model: another record
    assert conversion_memo.record_path(_job(tmp_path, tolerance=1e-2), root, "abc") != record
    assert conversion_memo.record_path(job, root, "abd") != record
    (tmp_path / "ref.npz").write_bytes(b"another reference")
    assert conversion_memo.record_path(job, root, "abc") != record
    assert conversion_memo.record_path(dict(job, inputs=str(tmp_path / "gone.npz")), root, "abc") is None

    # a path outside the artifacts' folder, a missing file, a corrupt record: not trusted
    outside = dict(artifact, path=str(tmp_path / "inputs.npz"))
    conversion_memo.keep(record, outside, [])
    assert conversion_memo.lookup(record, root) is None
    conversion_memo.keep(record, dict(artifact, meta={"extra_files": [str(root / "weights.bin")]}), [])
    assert conversion_memo.lookup(record, root) is None
    record.write_text("{not json")
    assert conversion_memo.lookup(record, root) is None
    assert conversion_memo.lookup(None, root) is None
