"""Device profiles: built-ins, YAML, mapping onto the Request, and a real memory cap giving "does not fit"."""

from __future__ import annotations

import os

import pytest

import edgepick
from edgepick.core.errors import UserError
from edgepick.plan.devices import BUILTIN, apply_to_request, load_device
from edgepick.store.db import Store
from edgepick.store.result import run_from_db
from edgepick.sweep.scheduler import Request


def test_builtin_profiles():
    pi = load_device("pi-class")
    assert (pi.cores, pi.threads, pi.memory_cap_bytes, pi.platform) == (2, [1, 2], 2**30, "linux-arm64")
    phone = load_device("phone-class")
    assert (phone.cores, phone.memory_cap_bytes, phone.platform) == (2, 2 * 2**30, "android-arm64")
    pi.threads.append(7)
    assert BUILTIN["pi-class"].threads == [1, 2]  # a loaded profile is a copy


def test_yaml_profile(tmp_path):
    path = tmp_path / "board.yaml"
    path.write_text("name: my-board\ncores: 1\nthreads: 1\nmemory: 512MB\nstorage: 16MiB\nplatform: linux-armv7\n"
                    "latency_scale: 3.5\nmemory_mechanism: rlimit-as\n")
    d = load_device(str(path))
    assert (d.name, d.cores, d.threads, d.memory_cap_bytes, d.storage_cap_bytes) == ("my-board", 1, [1], 512 * 10**6, 16 * 2**20)
    assert (d.platform, d.latency_scale, d.memory_mechanism) == ("linux-armv7", 3.5, "rlimit-as")


@pytest.mark.parametrize("text, says", [
    ("cores: 0\n", "'cores'"),
    ("cores: 2\nmemory: 1024\n", "needs a unit"),
    ("cores: 2\nmemory: lots\n", "memory in"),
    ("cores: 2\nram: 1GB\n", "unknown key"),
    ("cores: 2\nthreads: [1, 0]\n", "'threads'"),
    ("cores: 2\nlatency_scale: -1\n", "latency_scale"),
    ("cores: 2\nplatform: 7\n", "os-arch"),
    ("- 1\n- 2\n", "mapping"),
    ("cores: [\n", "not valid YAML"),
])
def test_bad_yaml_is_a_user_error(tmp_path, text, says):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UserError) as e:
        load_device(str(path))
    assert says in str(e.value)


def test_unknown_profile_name():
    with pytest.raises(UserError, match="pi-class"):
        load_device("toaster-class")


def test_profile_maps_onto_request_fields():
    req = Request(model="x")
    apply_to_request(load_device("pi-class"), req, threads_given=False, memory_given=False)
    usable = sorted(os.sched_getaffinity(0))
    assert req.cores == usable[:2] and req.threads == [1, 2]
    assert req.memory_limit == 2**30 and req.memory_mechanism == "auto"
    assert req.device["name"] == "pi-class"
    explicit = Request(model="x", threads=[1], memory_limit=123 * 10**6)
    apply_to_request(load_device("pi-class"), explicit, threads_given=True, memory_given=True)
    assert explicit.threads == [1] and explicit.memory_limit == 123 * 10**6


def test_a_profile_wanting_more_cores_than_we_have_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(f"cores: {len(os.sched_getaffinity(0)) + 1}\n")
    with pytest.raises(UserError, match="needs"):
        apply_to_request(load_device(str(path)), Request(model="x"), False, False)


def test_memory_cap_gives_does_not_fit(home, tiny_onnx, fast, tmp_path):
    """A real onnxruntime worker under a 64 MiB cap (RSS watchdog): the row and the selection say it does not fit."""
    path = tmp_path / "tiny-board.yaml"
    path.write_text("name: tiny-board\ncores: 1\nmemory: 64MiB\nmemory_mechanism: rss-watchdog\n")
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], timing=fast, device=str(path), budget="p90<=1s")
    row = run.rows[0]
    assert row["status"] == "failed" and row["reason_class"] == "oom", row
    assert row["reason"] == "does not fit in 64 MB (memory cap, rss-watchdog)"
    assert row["memory_cap"] == {"limit_mb": 64.0, "mechanism": "rss-watchdog"}
    assert run.picked is None
    assert run.reasons[row["key"]] == "failed (oom): does not fit in 64 MB (memory cap, rss-watchdog)"
    again = run_from_db(Store(f"sqlite:///{home / 'results.db'}").get_run(run.run_id))  # `show` re-derives it
    assert again.reasons == run.reasons and again.request["selection"]["device"]["name"] == "tiny-board"


def test_the_same_model_fits_without_the_cap(home, tiny_onnx, fast):
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime"], threads=1, timing=fast, memory_limit=2**30,
                        memory_mechanism="rss-watchdog")
    row = run.rows[0]
    assert row["status"] == "ok", row
    assert row["memory_cap"]["mechanism"] == "rss-watchdog"
    assert 20 < row["peak_rss_mb"] < 400  # the worker's own peak, not its parent's (VmHWM, not ru_maxrss)


def test_device_platform_filters_through_the_capability_matrix(home, tiny_onnx, fast):
    req = Request(model="x")
    apply_to_request(load_device("phone-class"), req, threads_given=False, memory_given=False)
    assert req.platform == "android-arm64"
    run = edgepick.pick(str(tiny_onnx), runtimes=["onnxruntime", "openvino"], threads=1, timing=fast, device="phone-class")
    by = {r["key"]: r for r in run.rows}
    assert by["openvino/fp32/t1/b1"]["reason_class"] == "platform"
    assert run.reasons["openvino/fp32/t1/b1"].startswith("failed (platform): dropped for --platform android-arm64: os android")
    assert run.picked["key"] == "onnxruntime/fp32/t1/b1"
    assert by["onnxruntime/fp32/t1/b1"]["memory_cap"]["limit_mb"] == 2048


def test_yaml_platform_uses_the_matrix_names(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("cores: 1\nplatform: plan9-vax\n")
    with pytest.raises(UserError, match="unknown --platform"):
        load_device(str(path))
