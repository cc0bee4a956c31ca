"""ONNX -> .tflite with onnx2tf, run in its own venv.

onnx2tf pins exact, older versions of tensorflow, onnx, onnxruntime, numpy and protobuf; installed beside edgepick
it would downgrade the main environment. So it lives in `edgepick env create onnx2tf` and runs there as a
subprocess; only the .tflite file comes back. The inputs keep their ONNX layout (-k for images, -kat for other 3-D
inputs: convert/onnx2tf_input.py), so the same eval data feeds the .tflite as every other candidate; a dynamic batch
is fixed to 1 (-b 1), and LiteRT reports other batch sizes as unsupported-shape rows. onnx2tf writes the .tflite and
a SavedModel from one Keras model, so one pass serves this edge and the SavedModel edge wherever the two ask it the
same (convert/onnx2tf_pass.py).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core import envs
from edgepick.core.artifact import Artifact


class OnnxToTflite(Converter):
    name = "onnx2tf"
    typical_s = 12  # onnx2tf builds a Keras model in TensorFlow (the SavedModel edge inherits it)
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
        # -osd: the SavedModel edge's static request is this one, so both targets come from one pass (onnx2tf_pass)
        out, prepared = run_onnx2tf(self.env, artifact, ctx, STATIC_ARGS, lambda d: sorted(d.glob("*_float32.tflite")),
                                    static_batch=1)
        produced = sorted(out.glob("*_float32.tflite"))
        target = ctx.out_dir / "model.tflite"
        target.write_bytes(produced[0].read_bytes())
        return Artifact("tflite", str(target), {"converter": "onnx2tf (own venv)", "static_batch": 1,
                                                "input_names": ctx.signature.names, "onnx2tf_input": prepared})


# onnx2tf's flags for a graph converted at batch 1 (the .tflite; the SavedModel of a static graph or its static retry)
STATIC_ARGS = ("-osd", "-b", "1")


def run_onnx2tf(env_name: str, artifact: Artifact, ctx: ConvertContext, extra_args, produced,
                static_batch: int | None = None, fix_dims: bool = True) -> tuple[Path, dict]:
    """Run onnx2tf in its venv on a prepared copy of the ONNX file (fixed image shapes, TensorFlow-safe node names,
    layout flags: convert/onnx2tf_input.py), once per distinct input (convert/onnx2tf_pass.py); raise with its root
    error when `produced(folder)` is empty afterwards. Returns (the folder onnx2tf wrote, shared: read only; what the
    preparation changed, for the artifact's record)."""
    from edgepick.convert import onnx2tf_input, onnx2tf_offline, onnx2tf_pass

    python, overrides = envs.interpreter_for(env_name)
    folder = (ctx.out_dir / "onnx2tf-input").absolute()  # onnx2tf runs in folder
    shutil.rmtree(folder, ignore_errors=True)  # an earlier try's files (and onnx2tf's strays) would change the pass key
    source, flags, prepared = onnx2tf_input.prepare(artifact, ctx.signature, folder, static_batch, fix_dims)
    data_flags, prepared["offline"] = onnx2tf_offline.write_inputs(ctx.sample_inputs(), folder,
                                                                   batch_axis=not ctx.signature.whole_feeds)
    # onnx2tf_offline runs onnx2tf with the network refused; its sample data comes from the eval inputs instead
    args = ["-i", source, "-o", "<out>", *extra_args, "-n", *flags, *data_flags]
    # TF_ENABLE_ONEDNN_OPTS=0: onnx2tf's TensorFlow 2.19 runs its oneDNN convolutions while building the graph, and on
    # CPUs with AVX512-FP16/BF16 some fail ("could not create a primitive descriptor for a convolution forward
    # propagation primitive", then SIGILL): seen on the PP-OCR nets. Eigen's kernels only cost conversion time.
    env = {"PYTHONNOUSERSITE": "1", "PATH": "/usr/bin:/bin", "HOME": str(ctx.out_dir), "TF_ENABLE_ONEDNN_OPTS": "0",
           **overrides}
    key = onnx2tf_pass.pass_key(folder, args, envs.marker(env_name) or {})
    out, record = onnx2tf_pass.run_shared([python, "-m", "edgepick.convert.onnx2tf_offline", *args], env, folder,
                                          ctx.out_dir.parent, key)
    stdout, stderr = onnx2tf_pass.output_of(out)
    (ctx.out_dir / "onnx2tf.log").write_text(stdout + stderr)
    prepared["onnx2tf_pass"] = record  # reused: another edge's (or run's) pass served this one
    if record["returncode"] != 0 or not produced(out):
        raise RuntimeError(f"onnx2tf exited {record['returncode']}: {root_error(stderr + stdout)[:300]} "
                           f"(log: {ctx.out_dir / 'onnx2tf.log'})")
    return out, prepared


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

