"""ONNX -> Keras 3 (.keras) with onnx2keras, kept only when the model is backend-agnostic: Keras on JAX's way in.

onnx2keras maps ONNX ops to Keras layers (Conv -> Conv2D, Gemm -> Dense, ...); ops with no Keras layer become Lambda
layers holding TensorFlow code. edgepick replaces those converters (and adds the ones it lacks) with keras.ops and
built-in layers before converting (convert/onnx2keras_ops.py and the onnx2keras_* modules it registers). A model of
built-in layers only runs unchanged on the JAX backend; one with Lambda layers does not (and Keras' safe mode refuses
their bytecode), so the conversion then fails saying which ONNX ops
needed them. TensorFlow itself is reached through the SavedModel edge (onnx2tf), which has no such limit.

onnx2keras requires the `tensorflow` distribution (edgepick installs `tensorflow-cpu`), so it lives in the onnx2tf
venv and runs there as a subprocess (`python -m edgepick.convert.onnx_to_keras JOB`); the .keras file comes back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from edgepick.convert.base import ConvertContext, Converter, last_json_line
from edgepick.core import envs, errors
from edgepick.core.artifact import Artifact


class OnnxToKeras(Converter):
    name = "onnx2keras"
    sources = ("onnx",)
    target = "keras"
    import_name = "onnx2keras"
    distribution = "onnx2keras"
    extra = "onnx2tf"
    env = "onnx2tf"

    @classmethod
    def is_available(cls) -> bool:
        return envs.is_ready(cls.env)

    @classmethod
    def install_hint(cls) -> str:
        return f"edgepick env create {cls.env}  ({envs.unavailable_reason(cls.env) or 'ready'})"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        python, overrides = envs.interpreter_for(self.env)
        out = ctx.out_dir / "model.keras"
        job = {"onnx": artifact.path, "out": str(out),
               "inputs": [[t.name, [int(d) for d in t.shape[1:]]] for t in ctx.signature.inputs],
               "batch": _batch(ctx.signature)}
        env = {"PATH": "/usr/bin:/bin", "HOME": str(ctx.out_dir), "KERAS_BACKEND": "tensorflow",
               "TF_CPP_MIN_LOG_LEVEL": "2", **overrides}
        done = subprocess.run(envs.tied([python, "-m", "edgepick.convert.onnx_to_keras", json.dumps(job)]),
                              capture_output=True,
                              text=True, env=env, timeout=1800)
        (ctx.out_dir / "onnx2keras.log").write_text(done.stdout + done.stderr)
        reply = last_json_line(done.stdout)
        if done.returncode != 0 or "error" in reply or not out.exists():
            raise RuntimeError(reply.get("error") or errors.root_cause(done.stderr) or f"exit {done.returncode}")
        return Artifact("keras", str(out), {"converter": f"onnx2keras {reply.get('onnx2keras')} (own venv)",
                                            "keras": reply.get("keras"), "input_names": ctx.signature.names})


def _batch(signature) -> int:
    """The batch the graph's fixed shapes were made for: what a Keras tensor's unknown batch axis stands for."""
    shape = signature.inputs[0].shape if signature.inputs else []
    return shape[0] if shape and isinstance(shape[0], int) else 1


def _convert(job: dict) -> dict:
    """Runs inside the onnx2tf venv."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    from importlib import metadata

    import keras
    import onnx
    from onnx2keras import onnx_to_keras
    from onnx2keras.layers import AVAILABLE_CONVERTERS

    from edgepick.convert import onnx2keras_ops

    model = onnx.load(job["onnx"])
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    onnx2keras_ops.register(job.get("batch", 1), opset)  # HardSwish, LSTM, keras.ops elementwise/shape ops, ...
    unknown = sorted({node.op_type for node in model.graph.node} - set(AVAILABLE_CONVERTERS))
    if unknown:
        return {"error": f"onnx2keras has no converter for ONNX op(s) {', '.join(unknown)}"}
    names = [name for name, _ in job["inputs"]]
    shapes = [shape for _, shape in job["inputs"]]
    # "renumerate" names layer i LAYER_i after ONNX node i, so a Lambda layer can be traced back to its op.
    k_model = onnx_to_keras(model, names, input_shapes=shapes, name_policy="renumerate", verbose=False)
    lambdas = [layer.name for layer in k_model.layers if isinstance(layer, keras.layers.Lambda)]
    foreign = sorted({type(layer).__module__ for layer in k_model.layers if not type(layer).__module__.startswith("keras")})
    if lambdas or foreign:
        ops = sorted({_op_of(model, name) for name in lambdas})
        what = f"ONNX op(s) {', '.join(ops)} became Lambda layers running TensorFlow code" if lambdas else \
            f"layers from {', '.join(foreign)}"
        return {"error": f"onnx2keras: {what}, so the Keras model is not backend-agnostic "
                         "(Keras on JAX cannot run it, and safe mode refuses Lambda bytecode)"}
    k_model.save(job["out"])
    return {"keras": keras.__version__, "onnx2keras": metadata.version("onnx2keras"), "layers": len(k_model.layers)}


def _op_of(model, layer_name: str) -> str:
    index = layer_name.removeprefix("LAYER_").split("_")[0]
    if index.isdigit() and int(index) < len(model.graph.node):
        return model.graph.node[int(index)].op_type
    return layer_name


def main(job: dict) -> int:
    try:
        reply = _convert(job)
    except Exception as e:
        text = str(e).strip().splitlines()
        reply = {"error": f"onnx2keras: {type(e).__name__}: {text[0][:300] if text else ''}"}
    print(json.dumps(reply), flush=True)
    return 1 if "error" in reply else 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
