"""ONNX -> .tflite with onnx2tf, run in its own venv.

onnx2tf pins exact, older versions of tensorflow, onnx, onnxruntime, numpy and protobuf; installed beside edgepick
it would downgrade the main environment. So it lives in `edgepick env create onnx2tf` and runs there as a
subprocess; only the .tflite file comes back. The inputs keep their ONNX layout (-k for images, -kat for other 3-D
inputs: convert/onnx2tf_input.py), so the same eval data feeds the .tflite as every other candidate; a dynamic batch
is fixed to 1 (-b 1), and LiteRT reports other batch sizes as unsupported-shape rows.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core import envs
from edgepick.core.artifact import Artifact


class OnnxToTflite(Converter):
    name = "onnx2tf"
    sources = ("onnx",)
    target = "tflite"
    import_name = "onnx2tf"
    distribution = "onnx2tf"
    extra = "onnx2tf"
    env = "onnx2tf"

    @classmethod
    def is_available(cls) -> bool:
        return envs.is_ready(cls.env)

    @classmethod
    def install_hint(cls) -> str:
        return f"edgepick env create {cls.env}  ({envs.unavailable_reason(cls.env) or 'ready'})"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        out_dir = ctx.out_dir / "saved_model"
        prepared = run_onnx2tf(self.env, artifact, ctx, out_dir, ["-b", "1"],
                               lambda: sorted(out_dir.glob("*_float32.tflite")), static_batch=1)
        produced = sorted(out_dir.glob("*_float32.tflite"))
        target = ctx.out_dir / "model.tflite"
        target.write_bytes(produced[0].read_bytes())
        return Artifact("tflite", str(target), {"converter": "onnx2tf (own venv)", "static_batch": 1,
                                                "input_names": ctx.signature.names, "onnx2tf_input": prepared})


def run_onnx2tf(env_name: str, artifact: Artifact, ctx: ConvertContext, out_dir, extra_args: list[str], produced,
                static_batch: int | None = None, fix_dims: bool = True) -> dict:
    """Run onnx2tf in its venv on a prepared copy of the ONNX file (fixed image shapes, TensorFlow-safe node names,
    layout flags: convert/onnx2tf_input.py), writing into out_dir; raise with its root error when `produced()` is
    empty afterwards. Returns what the preparation changed, for the artifact's record."""
    from edgepick.convert import onnx2tf_input, onnx2tf_offline

    python, overrides = envs.interpreter_for(env_name)
    folder, out_dir = (ctx.out_dir / "onnx2tf-input").absolute(), Path(out_dir).absolute()  # onnx2tf runs in folder
    source, flags, prepared = onnx2tf_input.prepare(artifact, ctx.signature, folder, static_batch, fix_dims)
    data_flags, prepared["offline"] = onnx2tf_offline.write_inputs(ctx.sample_inputs(), folder,
                                                                   batch_axis=not ctx.signature.whole_feeds)
    # onnx2tf_offline runs onnx2tf with the network refused; its sample data comes from the eval inputs instead
    cmd = [python, "-m", "edgepick.convert.onnx2tf_offline", "-i", source, "-o", str(out_dir), *extra_args, "-n", *flags,
           *data_flags]
    # TF_ENABLE_ONEDNN_OPTS=0: onnx2tf's TensorFlow 2.19 runs its oneDNN convolutions while building the graph, and on
    # CPUs with AVX512-FP16/BF16 some fail ("could not create a primitive descriptor for a convolution forward
    # propagation primitive", then SIGILL): seen on the PP-OCR nets. Eigen's kernels only cost conversion time.
    env = {"PYTHONNOUSERSITE": "1", "PATH": "/usr/bin:/bin", "HOME": str(ctx.out_dir), "TF_ENABLE_ONEDNN_OPTS": "0",
           **overrides}
    # cwd: onnx2tf reads its sample image file from its working folder (and writes stray files there)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, cwd=folder)
    (ctx.out_dir / "onnx2tf.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0 or not produced():
        raise RuntimeError(f"onnx2tf exited {done.returncode}: {root_error(done.stderr + done.stdout)[:300]} "
                           f"(log: {ctx.out_dir / 'onnx2tf.log'})")
    return prepared


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception):")


def root_error(output: str) -> str:
    """The exception onnx2tf died of, with the line after it (TensorFlow puts the shapes there), rather than its
    generic advice ("ERROR: ... use the -kt or -kat option"), which it prints after any failure."""
    lines = [_ANSI.sub("", ln).strip() for ln in output.splitlines() if ln.strip()]
    for index in range(len(lines) - 1, -1, -1):
        if _EXCEPTION_LINE.match(lines[index]):
            following = lines[index + 1] if index + 1 < len(lines) else ""
            following = "" if following.startswith(("File ", "Traceback", "ERROR", "WARNING", "INFO")) else following
            return f"{lines[index]} {following}".strip()
    errs = [ln for ln in lines if "Error" in ln or "ERROR" in ln] or lines[-1:]
    return " ".join(errs[-2:])

