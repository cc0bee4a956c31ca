"""PyTorch -> .tflite with litert-torch in its own venv (`edgepick env create litert-torch`).

litert-torch pins older typing_extensions and pydantic than the main environment runs, so, like onnx2tf, it lives
in a venv of its own with the same torch. The module crosses over as a torch.export program (.pt2, no pickle) with its
example inputs (.npz); only the .tflite comes back. A dynamic batch is asked for first, as in-process; a graph that
refuses it is converted for batch 1 and LiteRT reports other batch sizes as unsupported-shape rows.

This file is also the env's entry point (`python -m edgepick.convert.litert_torch_env`): that side imports only torch,
litert_torch and numpy, which the env has.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ENV = "litert-torch"


def convert_in_env(module, signature, out_dir: Path) -> dict:
    """Write out_dir/model.tflite from `module` in the env; return the artifact meta. Raises RuntimeError."""
    import numpy as np
    import torch

    from edgepick.core import envs
    from edgepick.inputs.torch_dims import batch_dynamic_shapes, example_tensors

    python, overrides = envs.interpreter_for(ENV)
    module = flat_outputs(module)
    dynamic = [t.batch_dynamic for t in signature.inputs]
    program = out_dir / "source.pt2"
    try:  # the env re-exports the program's module; batch 1 only where torch.export refuses a dynamic batch
        exported = torch.export.export(module, example_tensors(signature, 2), dynamic_shapes=batch_dynamic_shapes(dynamic))
        batch = 2
    except Exception:
        exported, batch, dynamic = torch.export.export(module, example_tensors(signature, 1)), 1, [False] * len(dynamic)
    torch.export.save(exported, str(program))
    np.savez(out_dir / "examples.npz", *[t.numpy() for t in example_tensors(signature, batch)])
    target = out_dir / "model.tflite"
    cmd = [python, "-m", "edgepick.convert.litert_torch_env", str(program), str(out_dir / "examples.npz"), str(target),
           json.dumps(dynamic)]
    done = subprocess.run(envs.tied(cmd), capture_output=True, text=True, timeout=1800, cwd=out_dir,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(out_dir), **overrides})
    (out_dir / "litert-torch.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0 or not target.exists():
        from edgepick.core.errors import root_cause

        said = root_cause(done.stderr) or " ".join((done.stderr or done.stdout).split()[-40:])
        raise RuntimeError(f"litert-torch exited {done.returncode}: {said[:300]} (log: {out_dir / 'litert-torch.log'})")
    static = 1 if batch == 1 else json.loads((out_dir / "litert-torch.json").read_text())["static_batch"]
    return {"converter": "litert-torch (own venv)", "static_batch": static, "input_names": signature.names}


def flat_outputs(module):
    """`module` with its outputs as a flat tuple of tensors. A library's output class (transformers' ModelOutput) is a
    pytree node that the env cannot rebuild when it loads the program; the leaves are what every runtime is compared
    on anyway, in the order the reference takes them."""
    import torch
    from torch.utils import _pytree

    class FlatOutputs(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return tuple(_pytree.tree_leaves(self.inner(*inputs)))

    wrapper = FlatOutputs(module)
    wrapper.training = False  # not .eval(): an exported program's module refuses train(); the inner one is set already
    return wrapper


def _env_main(program: str, examples: str, out: str, dynamic: str) -> None:
    import logging

    import litert_torch
    import numpy as np
    import torch

    logging.getLogger("litert_torch").setLevel(logging.ERROR)
    module = torch.export.load(program).module()
    with np.load(examples) as f:
        example = tuple(torch.from_numpy(f[k]) for k in f.files)
    batch = torch.export.Dim("batch", min=1, max=64)
    flags = json.loads(dynamic)
    static_batch = None
    try:
        edge = litert_torch.convert(module, example, dynamic_shapes=tuple({0: batch} if d else {} for d in flags))
    except Exception:  # a graph with a baked-in batch: a static batch-1 model is still useful
        edge = litert_torch.convert(module, tuple(t[:1] for t in example))
        static_batch = 1
    edge.export(out)
    Path(out).with_name("litert-torch.json").write_text(json.dumps({"static_batch": static_batch}))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    for name in ("program", "examples", "out", "dynamic"):
        ap.add_argument(name)
    args = ap.parse_args()
    _env_main(args.program, args.examples, args.out, args.dynamic)
    sys.exit(0)
