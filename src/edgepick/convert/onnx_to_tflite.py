"""ONNX -> .tflite with onnx2tf, run in its own venv.

onnx2tf pins exact, older versions of tensorflow, onnx, onnxruntime, numpy and protobuf; installed beside edgepick
it would downgrade the main environment. So it lives in `edgepick env create onnx2tf` and runs there as a
subprocess; only the .tflite file comes back. The inputs keep their NCHW layout (-k), so the same eval data feeds
the .tflite as every other candidate; a dynamic batch is fixed to 1 (-b 1), and LiteRT reports other batch sizes
as unsupported-shape rows.
"""

from __future__ import annotations

import subprocess

from edgepick import envs
from edgepick.artifact import Artifact
from edgepick.convert.base import ConvertContext, Converter


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
        run_onnx2tf(self.env, artifact, ctx, out_dir, ["-b", "1"], lambda: sorted(out_dir.glob("*_float32.tflite")))
        produced = sorted(out_dir.glob("*_float32.tflite"))
        target = ctx.out_dir / "model.tflite"
        target.write_bytes(produced[0].read_bytes())
        return Artifact("tflite", str(target), {"converter": "onnx2tf (own venv)", "static_batch": 1,
                                                "input_names": ctx.signature.names})


def run_onnx2tf(env_name: str, artifact: Artifact, ctx: ConvertContext, out_dir, extra_args: list[str], produced) -> None:
    """Run onnx2tf in its venv on the ONNX file, writing into out_dir; raise with its own error when `produced()` is
    empty afterwards. 3-5-D inputs keep their channels-first layout (-k), so the same eval data feeds every candidate."""
    python, _ = envs.interpreter_for(env_name)
    cmd = [python, "-m", "onnx2tf", "-i", private_copy(artifact, ctx.out_dir / "onnx2tf-input"), "-o", str(out_dir),
           *extra_args, "-n"]
    channels_first = [t.name for t in ctx.signature.inputs if len(t.shape) in (3, 4, 5)]
    if channels_first:
        cmd += ["-k", *channels_first]
    # TF_ENABLE_ONEDNN_OPTS=0: onnx2tf's TensorFlow 2.19 runs its oneDNN convolutions while building the graph, and on
    # CPUs with AVX512-FP16/BF16 some fail ("could not create a primitive descriptor for a convolution forward
    # propagation primitive", then SIGILL): seen on the PP-OCR nets. Eigen's kernels only cost conversion time.
    env = {"PYTHONNOUSERSITE": "1", "PATH": "/usr/bin:/bin", "HOME": str(ctx.out_dir), "TF_ENABLE_ONEDNN_OPTS": "0"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    (ctx.out_dir / "onnx2tf.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0 or not produced():
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        errs = [ln for ln in lines if "Error" in ln or "ERROR" in ln] or lines[-1:]
        raise RuntimeError(f"onnx2tf exited {done.returncode}: {' '.join(errs[-2:])[:300]} (log: {ctx.out_dir / 'onnx2tf.log'})")


def private_copy(artifact: Artifact, folder) -> str:
    """A copy of the ONNX file (and its external data) for onnx2tf alone: onnx2tf overwrites the file it is given with
    its onnxsim-simplified graph (onnx2tf.py saves to input_onnx_file_path), and that file may be the user's model."""
    import shutil
    from pathlib import Path

    folder.mkdir(parents=True, exist_ok=True)
    for name in [artifact.path, *artifact.meta.get("extra_files", [])]:
        shutil.copy2(name, folder / Path(name).name)
    return str(folder / Path(artifact.path).name)
