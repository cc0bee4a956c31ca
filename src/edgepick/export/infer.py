"""Run an exported edgepick candidate once: `python infer.py [--input x.npz] [--output y.npz] [--repeat N]`.

This file is copied verbatim into every export (it never contains text from the model or the user): what it loads
is read at run time from export.json, and every file is checked against manifest.json's SHA-256 before loading.
It needs only numpy and the candidate's runtime (requirements.txt), not edgepick.
"""

import argparse
import hashlib
import json
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent


def refuse(message):
    print(f"infer.py: refusing to run: {message}", file=sys.stderr)
    sys.exit(3)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_manifest():
    """Every file the export lists must be there, unchanged, and nothing may escape this folder."""
    try:
        manifest = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        refuse("manifest.json is missing or unreadable; re-export the candidate")
    for name, digest in files.items():
        path = (HERE / name).resolve()
        if path.parent != HERE or not path.is_file():
            refuse(f"{name!r} listed in manifest.json is missing or outside the export folder")
        if sha256(path) != digest:
            refuse(f"{name!r} was modified after export (SHA-256 differs from manifest.json)")
    config = json.loads((HERE / "export.json").read_text(encoding="utf-8"))
    if "export.json" not in files or config["artifact"] not in files:
        refuse("manifest.json does not cover export.json and the artifact; re-export the candidate")
    return config


def verify_signature(public_key):
    try:
        from model_signing import verifying
    except ImportError:
        refuse("--public-key needs the model-signing package (pip install model-signing)")
    try:
        verifying.Config().use_elliptic_key_verifier(public_key=public_key).verify(HERE / "manifest.json", HERE / "manifest.sig")
    except Exception as e:  # model_signing raises ValueError and friends; the first line says which file differs
        refuse(f"the signature does not verify with {public_key}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}")
    print("signature: verified (model-signing, manifest.sig)")


def read_inputs(path):
    with np.load(path, allow_pickle=False) as f:
        return {name: f[name] for name in f.files}


def load_onnxruntime(config):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = config["threads"]
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(HERE / config["artifact"]), sess_options=opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda inputs: [np.asarray(o) for o in session.run(names, inputs)]


def load_openvino(config):
    import openvino as ov
    import openvino.properties as props

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(HERE / config["artifact"])), "CPU",
                                  {props.inference_num_threads: config["threads"], props.num_streams: 1,
                                   # the precision measured: the CPU plugin's default may be BF16, never left implicit
                                   props.hint.inference_precision: config.get("ov_precision", "f32")})
    request = compiled.create_infer_request()

    def run(inputs):
        request.infer({k: np.asarray(v, order="C") for k, v in inputs.items()})
        return [np.array(request.get_output_tensor(i).data) for i in range(len(compiled.outputs))]
    return run


def load_torch_eager(config):
    import torch

    torch.set_num_threads(config["threads"])
    module = torch.export.load(str(HERE / config["artifact"])).module()
    names = config["input_names"]

    def run(inputs):
        # BF16 rows were measured under torch.autocast; FP32 rows with it off
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(config.get("torch_bf16"))):
            out = module(*(torch.from_numpy(np.asarray(inputs[n], order="C")) for n in names))
        out = (out,) if isinstance(out, torch.Tensor) else tuple(out)
        return [(o.float() if o.dtype == torch.bfloat16 else o).detach().numpy() for o in out]
    return run


LOADERS = {"onnxruntime": load_onnxruntime, "openvino": load_openvino, "torch-eager": load_torch_eager}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", default=str(HERE / "example_input.npz"), help="an .npz, one array per input name")
    parser.add_argument("--output", help="save the outputs to this .npz")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls after the first")
    parser.add_argument("--public-key", help="also verify manifest.sig (model-signing) with this PEM public key")
    args = parser.parse_args()
    config = verify_manifest()
    if args.public_key:
        verify_signature(args.public_key)
    inputs = read_inputs(args.input)
    t0 = time.perf_counter()
    run = LOADERS[config["runtime"]](config)
    print(f"load: {(time.perf_counter() - t0) * 1e3:.1f} ms")
    t0 = time.perf_counter()
    outputs = run(inputs)
    print(f"first inference: {(time.perf_counter() - t0) * 1e3:.3f} ms")
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        run(inputs)
        times.append((time.perf_counter() - t0) * 1e3)
    if times:
        print(f"latency over {len(times)} calls: median {sorted(times)[len(times) // 2]:.3f} ms, min {min(times):.3f} ms")
    for i, out in enumerate(outputs):
        print(f"output {i}: shape {tuple(out.shape)}, dtype {out.dtype}, first values {out.ravel()[:5]}")
        if out.ndim == 2 and out.shape[1] > 1:
            print(f"  top-1 per row: {out.argmax(1).tolist()}")
    if args.output:
        np.savez(args.output, *outputs)


if __name__ == "__main__":
    main()
