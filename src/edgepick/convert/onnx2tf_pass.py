"""One onnx2tf pass for every edge that asks it the same question: the SavedModel and the .tflite come from one run.

onnx2tf builds one Keras model and writes it both as a SavedModel (-osd) and as .tflite files; the SavedModel edge
(convert/onnx_to_savedmodel.py) and the .tflite edge (convert/onnx_to_tflite.py) each ran it on the same graph,
35-98 s per run on real models. A pass is named by the content of everything onnx2tf reads (the prepared ONNX file
and its weights, the -cind sample arrays, the sample image file, every flag, the env's onnx2tf and TensorFlow), so
two edges share it exactly when onnx2tf would be given the same input: the outputs are then the same by
construction, not by judgement. -osd changes only node names and the way the SavedModel is written (onnx2tf's
`output_signaturedefs` branches), never the .tflite's computation, so the .tflite edge asks for it too.

The pass lives beside the edges' step folders in the model's conversion cache (the step folder's parent: chain.py
names each step cache_root/"a+b"), under a lock, so a second edge, a second run or a parallel conversion of the same
model waits and reuses it. Each edge copies (hard-links) what it needs into its own step folder and checks for its
own file, so one target missing from a pass fails that edge alone. An onnx2tf that exited with an error is recorded
too (it is deterministic: the other edge would fail the same way); one killed by a signal or the timeout is not.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from edgepick.core import envs

PASSES = "onnx2tf-pass"  # the folder beside the step folders
_FORMAT = 1  # bump when what a pass folder holds changes
_TIMEOUT = 1800


def pass_key(folder: Path, args: list[str], env_record: dict) -> str:
    """sha256 of the files onnx2tf reads from its working folder (names and bytes), the flags (with that folder's
    path left out, so two step folders with the same files agree) and the env it runs in."""
    digest = hashlib.sha256(json.dumps([_FORMAT, env_record.get("check"), env_record.get("created")]).encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    digest.update(json.dumps([a.replace(str(folder), "<in>") for a in args]).encode())
    return digest.hexdigest()[:24]


def run_shared(cmd: list[str], env: dict, folder: Path, cache_root: Path, key: str) -> tuple[Path, dict]:
    """Run `cmd` (onnx2tf, writing into the pass's out/ folder, given as the placeholder <out>) once per key.
    Returns (that folder, the pass record: returncode, log, seconds, reused)."""
    from filelock import FileLock

    pass_dir = cache_root / PASSES / key
    record_file = pass_dir / "pass.json"
    pass_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(pass_dir) + ".lock"):
        if record_file.exists():
            return pass_dir / "out", {**json.loads(record_file.read_text()), "reused": True}
        shutil.rmtree(pass_dir, ignore_errors=True)  # a pass half-written by a killed run
        pass_dir.mkdir()
        record = _run(cmd, env, folder, pass_dir)
        if record["returncode"] >= 0:  # an exit of its own (success or an error), not a kill by a signal
            record_file.write_text(json.dumps(record))
        return pass_dir / "out", {**record, "reused": False}


def _run(cmd: list[str], env: dict, folder: Path, pass_dir: Path) -> dict:
    out = (pass_dir / "out").absolute()
    t0 = time.perf_counter()
    # cwd: onnx2tf reads its sample image file from its working folder (and writes stray files there)
    done = subprocess.run(envs.tied([str(out) if a == "<out>" else a for a in cmd]), capture_output=True, text=True, env=env,
                          timeout=_TIMEOUT, cwd=folder)
    (pass_dir / "stdout.log").write_text(done.stdout)
    (pass_dir / "stderr.log").write_text(done.stderr)
    for unused in out.glob("*_float16.tflite"):  # written by onnx2tf always, asked for by no edge
        unused.unlink()
    return {"returncode": done.returncode, "seconds": round(time.perf_counter() - t0, 2), "key": pass_dir.name}


def output_of(out: Path) -> tuple[str, str]:
    """(stdout, stderr) of the pass that wrote `out`."""
    return (out.parent / "stdout.log").read_text(), (out.parent / "stderr.log").read_text()


def link_tree(source: Path, target: Path, ignore=None) -> None:
    """Copy a pass's output folder into a step folder as hard links (the pass is never written again once recorded),
    or as copies where the file system has no links."""
    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, copy_function=link, ignore=ignore)
