"""ONNX -> TVM Relax, compiled for the host CPU into a shared library.

TVM's ONNX frontend has no LSTM, GRU or RNN, and refuses a Reshape whose target it cannot follow symbolically: such a
graph is compiled from a copy where they are unrolled into plain ops (convert/recurrent_unroll.py; the sequence
length written in from the measured shapes) and the targets written in (convert/shape_fold.py); the batch stays
dynamic, and the artifact says what was changed.

The compile runs in a subprocess: TVM may need a dependency overlay (runtimes/overlay.py) that must not leak into
the main process, and a crash in LLVM codegen then becomes a classified conversion failure, not a dead sweep.
"""

from __future__ import annotations

import json
import subprocess
import sys

from edgepick.convert.base import ConvertContext, Converter, last_json_line
from edgepick.core import envs, errors
from edgepick.core.artifact import Artifact
from edgepick.runtimes import site_overlay as overlay


class OnnxToTvm(Converter):
    name = "onnx-to-tvm"
    typical_s = 5  # the LLVM build
    sources = ("onnx",)
    target = "tvm-relax"
    import_name = "tvm"
    distribution = "apache-tvm"
    extra = "tvm"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        out = ctx.out_dir / "model.so"
        source, prepared = _prepared(artifact.path, ctx)
        job = {"onnx": source, "out": str(out)}
        done = subprocess.run(envs.tied([sys.executable, "-m", "edgepick.convert.onnx_to_tvm", json.dumps(job)]),
                              capture_output=True,
                              text=True, timeout=1800, env=overlay.env_for("tvm"))
        reply = last_json_line(done.stdout)
        if done.returncode != 0 or not out.exists() or "error" in reply:
            raise RuntimeError(reply.get("error") or errors.root_cause(done.stderr) or _killed(done.returncode))
        info = reply | prepared
        return Artifact("tvm-relax", str(out), {"input_names": ctx.signature.names, **info})


def _prepared(path: str, ctx: ConvertContext) -> tuple[str, dict]:
    """(the ONNX file TVM compiles, what was changed): recurrent ops unrolled, Reshape targets computed from shapes
    written in (convert/shape_fold.py); the source itself when neither applies."""
    import onnx

    from edgepick.convert.recurrent_unroll import unroll_recurrent
    from edgepick.convert.shape_fold import fold_reshape_targets

    model = onnx.load(path)
    changed = {"recurrent_unrolled": unroll_recurrent(model, ctx.signature),  # the sequence length from the shapes
               "reshape_targets_folded": fold_reshape_targets(model, ctx.signature)}
    changed = {k: v for k, v in changed.items() if v}
    if not changed:
        return path, {}
    target = ctx.out_dir / "prepared.onnx"
    onnx.save(model, str(target))
    return str(target), changed


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


def _killed(returncode: int) -> str:
    return f"the TVM compiler process died with signal {-returncode}" if returncode < 0 else f"exit {returncode}"


def main(job: dict) -> int:
    """The exception itself goes to stdout as JSON: TVM prints warnings to stderr after the traceback (e.g.
    "BlockBuilder destroyed with remaining blocks!" at exit), so stderr's last line is not the error."""
    try:
        print(json.dumps(_compile(job)))
        return 0
    except Exception as e:
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        message = errors.root_cause(str(e)) or (f"{type(e).__name__}: {lines[-1].strip()}" if lines else type(e).__name__)
        print(json.dumps({"error": message[:400]}), flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
