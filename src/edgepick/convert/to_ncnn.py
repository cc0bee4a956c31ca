"""pnnx: TorchScript or ONNX -> ncnn .param/.bin. pnnx is a native tool; it runs as a subprocess with a timeout.
An ONNX source's strided slices and channel pads are rewritten first (convert/pnnx_input.py): pnnx would leave them
as Tensor.slice and as the raw ONNX Pad, which ncnn has no layer for."""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgepick.convert.base import ConvertContext, Converter
from edgepick.core import envs
from edgepick.core.artifact import Artifact


class Pnnx(Converter):
    name = "pnnx"
    sources = ("torchscript", "onnx")
    target = "ncnn"
    import_name = "pnnx"
    distribution = "pnnx"
    extra = "ncnn"

    def convert(self, artifact: Artifact, ctx: ConvertContext) -> Artifact:
        import pnnx

        shapes = ctx.signature.shapes_for_batch(1)
        spec = ",".join("[" + ",".join(str(d) for d in shapes[t.name]) + "]" + _pnnx_dtype(t.dtype) for t in ctx.signature.inputs)
        suffix = ".pt" if artifact.format == "torchscript" else ".onnx"
        src = ctx.out_dir / f"model{suffix}"  # pnnx names every output after its input file, so give it one in out_dir
        rewritten = _prepared_onnx(artifact.path, ctx, src) if artifact.format == "onnx" else {}
        if not rewritten:
            src.symlink_to(Path(artifact.path).absolute())
        cmd = [pnnx.EXEC_PATH, src.name, f"inputshape={spec}", "fp16=0", "optlevel=2"]  # it runs in out_dir
        done = subprocess.run(envs.tied(cmd), cwd=ctx.out_dir, capture_output=True, text=True, timeout=600)
        param, weights = ctx.out_dir / "model.ncnn.param", ctx.out_dir / "model.ncnn.bin"
        if done.returncode != 0 or not param.exists():
            raise RuntimeError(_why_pnnx_failed(done, ctx.signature))
        layer_types = [ln.split()[0] for ln in param.read_text().splitlines()[2:] if ln.split()]
        unsupported = [t for t in layer_types if t.startswith(("pnnx.", "F.", "torch.", "Tensor.")) or _not_in_ncnn(t)]
        if unsupported:
            raise RuntimeError(f"pnnx left ops ncnn cannot run: {', '.join(sorted(set(unsupported)))}")
        return Artifact("ncnn", str(param), {"weights": str(weights), "extra_files": [str(weights)],
                                             "input_names": ctx.signature.names,
                                             **rewritten})


def _prepared_onnx(path: str, ctx: ConvertContext, target: Path) -> dict:
    """Write the graph with its strided slices and channel pads rewritten to target; return {rewrite: how many}
    ({}: nothing written, pnnx reads the graph as it is)."""
    import onnx

    from edgepick.convert.pnnx_input import channel_pads_as_concats, strided_slices_as_convolutions

    model = onnx.load(path)
    counts = {"strided_slices_as_convolutions": strided_slices_as_convolutions(model, ctx.signature),
              "channel_pads_as_concats": channel_pads_as_concats(model, ctx.signature)}
    rewritten = {name: n for name, n in counts.items() if n}
    if rewritten:
        onnx.save(model, str(target))
    return rewritten


def _not_in_ncnn(layer_type: str) -> bool:
    """An op pnnx passed through under its ONNX name (e.g. Pad) that ncnn has no layer for: found here, not at load."""
    try:
        import ncnn
    except ImportError:  # the ncnn binding checks again when it loads the .param
        return False
    return ncnn.layer_to_index(layer_type) < 0


def _why_pnnx_failed(done, signature) -> str:
    log = done.stderr + done.stdout
    if done.returncode < 0 and "out of data bounds" in log and any(t.dtype.startswith(("int", "uint")) for t in signature.inputs):
        # seen on int32 token-id classifiers: pnnx folds an ONNX graph's constants by running it on uninitialised
        # integer inputs (its input= data is not used there), so an embedding's Gather reads far out of range
        return (f"pnnx crashed (signal {-done.returncode}) folding constants: it runs the ONNX graph on uninitialised "
                "integer inputs, and the ids overflow a Gather's table; ncnn gets no integer-input ONNX model from it")
    tail = [ln for ln in log.splitlines() if ln.strip()][-3:]
    return f"pnnx exited with {done.returncode}: {' | '.join(tail)[:300]}"


def _pnnx_dtype(dtype: str) -> str:
    return {"float32": "f32", "float16": "f16", "int64": "i64", "int32": "i32", "uint8": "u8", "int8": "i8"}.get(dtype, "f32")
