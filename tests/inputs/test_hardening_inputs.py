"""Issue 11, input validation: every hostile or careless input is one line, exit code 2, no traceback.

Each case runs the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import textwrap

import numpy as np
import pytest
from tests.helpers import FAST_ARGS, cli, one_line_error


def _onnx_run(tiny_onnx, *args: str):
    return cli("run", str(tiny_onnx), "--runtimes", "onnxruntime", *FAST_ARGS, *args)


def test_data_with_string_dtype(home, tiny_onnx):
    np.savez(home.parent / "words.npz", x=np.array([["a"] * 64] * 4))
    one_line_error(_onnx_run(tiny_onnx, "--data", "words.npz"), "dtype <U1", "numeric")


def test_labels_of_the_wrong_length(home, tiny_onnx):
    np.savez(home.parent / "short_y.npz", x=np.zeros((8, 1, 8, 8), np.float32), y=np.arange(5))
    one_line_error(_onnx_run(tiny_onnx, "--data", "short_y.npz"), "5 labels for 8 samples")


def test_labels_longer_than_the_limit_still_checked(home, tiny_onnx):
    np.savez(home.parent / "long_y.npz", x=np.zeros((8, 1, 8, 8), np.float32), y=np.arange(20))
    one_line_error(_onnx_run(tiny_onnx, "--data", "long_y.npz", "--data-limit", "4"), "20 labels for 8 samples")


def test_text_labels(home, tiny_onnx):
    np.savez(home.parent / "text_y.npz", x=np.zeros((4, 1, 8, 8), np.float32), y=np.array(["cat", "dog"] * 2))
    one_line_error(_onnx_run(tiny_onnx, "--data", "text_y.npz"), "labels 'y'", "text")


def test_non_npz_data_is_not_called_pickled(home, tiny_onnx):
    (home.parent / "notes.npz").write_text("not an archive\n" * 20)
    proc = _onnx_run(tiny_onnx, "--data", "notes.npz")
    one_line_error(proc, "not a readable .npz", "not a zip archive")
    assert "pickled" not in proc.stderr


def test_threads_above_the_cores_available(home, tiny_onnx):
    one_line_error(_onnx_run(tiny_onnx, "--threads", "999"), "--threads 999", f"at most {len(os.sched_getaffinity(0))}")


def test_threads_above_the_given_cores(home, tiny_onnx):
    first = sorted(os.sched_getaffinity(0))[0]
    one_line_error(_onnx_run(tiny_onnx, "--cores", str(first), "--threads", "2"), "--cores gives 1")


def test_cores_that_do_not_exist(home, tiny_onnx):
    one_line_error(_onnx_run(tiny_onnx, "--cores", "99"), "--cores 99", "not usable here")


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf"])
def test_timeout_not_positive(home, tiny_onnx, value):
    one_line_error(_onnx_run(tiny_onnx, f"--timeout={value}"), "--timeout")


@pytest.mark.parametrize("drop", ["200%", "-1%", "-0.5abs"])
def test_max_acc_drop_out_of_range(home, tiny_onnx, drop):
    one_line_error(_onnx_run(tiny_onnx, "--compress", "int8-dynamic", f"--max-acc-drop={drop}"), "--max-acc-drop")


def test_data_limit_zero(home, tiny_onnx):
    one_line_error(_onnx_run(tiny_onnx, "--data-limit", "0"), "--data-limit 0")


def test_pt2_of_random_bytes_is_one_line(home):
    (home.parent / "noise.pt2").write_bytes(np.random.default_rng(0).bytes(4096))
    one_line_error(cli("run", "noise.pt2"), "not a torch.export program")


def test_pt2_zip_that_is_not_a_program_is_one_line(home):
    import zipfile

    with zipfile.ZipFile(home.parent / "fake.pt2", "w") as z:
        z.writestr("data.txt", "hello")
    one_line_error(cli("run", "fake.pt2"), "not a loadable torch.export program")


def test_trusted_pickle_whose_class_is_not_importable(home, tmp_path):
    src = tmp_path / "elsewhere"
    src.mkdir()
    (src / "mynet.py").write_text(textwrap.dedent("""
        import torch

        class Net(torch.nn.Module):
            def forward(self, x):
                return x * 2
    """))
    saver = "import sys, torch; sys.path.insert(0, sys.argv[1]); import mynet; torch.save(mynet.Net(), sys.argv[2])"
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", saver, str(src), str(home.parent / "net.pt")], check=True, timeout=120)
    one_line_error(cli("run", "net.pt", "--trust-pickle"), "PYTHONPATH", "mynet")


FACTORIES = textwrap.dedent("""
    import sys

    def raises():
        raise RuntimeError("weights file missing")

    def exits_zero():
        sys.exit(0)

    def exits_text():
        sys.exit("bye")

    def returns_none():
        return None

    def data_raises():
        raise ValueError("no data today")
""")


@pytest.mark.parametrize("factory,needle", [("raises", "RuntimeError: weights file missing"),
                                            ("exits_zero", "sys.exit(0)"), ("exits_text", "sys.exit('bye')"),
                                            ("returns_none", "not a torch.nn.Module")])
def test_factory_failures_are_one_line_and_never_exit_zero(home, factory, needle):
    (home.parent / "badfactories.py").write_text(FACTORIES)
    one_line_error(cli("run", f"badfactories:{factory}"), needle)


def test_module_that_exits_at_import(home):
    (home.parent / "exits_on_import.py").write_text("import sys\nsys.exit(0)\n")
    one_line_error(cli("run", "exits_on_import:build"), "sys.exit(0)")


def test_data_callable_that_raises(home, tiny_onnx):
    (home.parent / "badfactories.py").write_text(FACTORIES)
    one_line_error(_onnx_run(tiny_onnx, "--data", "badfactories:data_raises"), "ValueError: no data today")


def test_markup_in_a_file_name_is_printed_as_text(home):
    one_line_error(cli("run", "odd[/]name[bold].onnx"), "odd[/]name[bold].onnx")
