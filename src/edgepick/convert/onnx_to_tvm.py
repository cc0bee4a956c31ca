"""ONNX -> TVM Relax, compiled for the host CPU into a shared library.

The compile runs in a subprocess: TVM may need a dependency overlay (runtimes/overlay.py) that must not leak into
the main process, and a crash in LLVM codegen then becomes a classified conversion failure, not a dead sweep.
"""

from __future__ import annotations

import json
import subprocess
import sys

from edgepick.artifact import Artifact
from edgepick.convert.base import ConvertContext, Converter
from edgepick.runtimes import overlay


class OnnxToTvm(Converter):
    name = "onnx-to-tvm"
    sources = ("onnx",)
    target = "tvm-relax"
    import_name = "tvm"
    distribution = "apache-tvm"
    extra = "tvm"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        out = ctx.out_dir / "model.so"
        job = {"onnx": artifact.path, "out": str(out)}
        done = subprocess.run([sys.executable, "-m", "edgepick.convert.onnx_to_tvm", json.dumps(job)], capture_output=True,
                              text=True, timeout=1800, env=overlay.env_for("tvm"))
        if done.returncode != 0 or not out.exists():
            tail = [ln for ln in done.stderr.splitlines() if ln.strip()][-1:] or [f"exit {done.returncode}"]
            raise RuntimeError(tail[0][:300])
        info = json.loads(done.stdout.strip().splitlines()[-1])
        return Artifact("tvm-relax", str(out), {"input_names": ctx.signature.names, **info})


def _compile(job: dict) -> dict:
    import onnx
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    mod = from_onnx(onnx.load(job["onnx"]), keep_params_in_input=False)  # symbolic batch dims stay symbolic
    mod = relax.transform.DecomposeOpsForInference()(mod)
    cpu = tvm.target.codegen.llvm_get_system_cpu()
    target = tvm.target.Target({"kind": "llvm", "mcpu": cpu})
    tvm.compile(mod, target=target).export_library(job["out"])
    return {"target": str(target.kind.name), "mcpu": cpu, "tvm": tvm.__version__}


if __name__ == "__main__":
    print(json.dumps(_compile(json.loads(sys.argv[1]))))
