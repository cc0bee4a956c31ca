"""Run an exported edgepick candidate once: `python infer.py [--input x.npz] [--output y.npz] [--repeat N]`.

This file is copied verbatim into every export (it never contains text from the model or the user): what it loads
is read at run time from export.json, and every file is checked against manifest.json's SHA-256 before loading.
It needs only numpy and the candidate's runtime (requirements.txt), not edgepick.

Nothing is imported from this folder: Python puts a script's folder first on the import path, so a numpy.py or
onnxruntime.py planted beside this file would run in place of the real package (before any check, and under a
verified signature, which covers only the files the manifest lists). The folder is taken off the path before any
other import (sys and os are loaded by the interpreter before this script, so they cannot be shadowed), and a file
the manifest does not list (other than .npz/.npy data) is refused.
"""

import os
import sys

HERE_STR = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != HERE_STR]  # '' (the working directory) too

import argparse  # noqa: E402  (after the path is cleaned: see the docstring)
import hashlib  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import time  # noqa: E402
import zipfile  # noqa: E402

HERE = pathlib.Path(HERE_STR)
DATA_SUFFIXES = (".npz", ".npy")  # inputs/outputs a user keeps beside the script: read without pickle, never run


def refuse(message):
    print(f"infer.py: refusing to run: {message}", file=sys.stderr)
    sys.exit(3)


def usage_error(message):
    """The caller's mistake (a missing or unreadable --input): one line, exit 2 as argparse does."""
    print(f"infer.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def first_line(e, limit=120):
    """An exception's first line (its type when it has no message: a bare MemoryError)."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:limit]


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
    refuse_unlisted(files)
    return config


def refuse_unlisted(files):
    """A file (or folder) the manifest does not list is refused: the signature covers only listed files."""
    known = set(files) | {"manifest.json", "manifest.sig"}
    extra = sorted(p.name for p in HERE.iterdir() if p.name not in known
                   and not (p.suffix.lower() in DATA_SUFFIXES and p.is_file() and not p.is_symlink()))
    if extra:
        refuse(f"{', '.join(map(repr, extra[:5]))} in the export folder {'is' if len(extra) == 1 else 'are'} not in "
               "manifest.json; remove what you did not export (only .npz/.npy data may sit beside infer.py)")


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


def read_inputs(path, names):
    """The --input arrays by name, checked against the model's input names: one line for any mistake."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
        if not hasattr(loaded, "files"):  # a bare .npy array: no names to match the model's inputs
            usage_error(f"--input {path} is a single array; give an .npz with one array per input {names}")
        with loaded as f:
            inputs = {name: f[name] for name in f.files}
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        usage_error(f"cannot read --input {path}: {getattr(e, 'strerror', None) or e}")
    except ValueError as e:  # an object array needs pickle, which is never allowed (it would run code)
        usage_error(f"--input {path} holds an array this script does not load ({first_line(e)}); "
                    "save plain numeric arrays with numpy.savez")
    except MemoryError as e:  # a header may declare any shape: numpy allocates it before reading the data
        usage_error(f"--input {path} declares an array too large to load ({first_line(e)})")
    except Exception as e:  # a damaged archive fails in many more ways (RuntimeError: encrypted, NotImplementedError..)
        usage_error(f"cannot read --input {path}: {type(e).__name__}: {first_line(e)}")
    if sorted(inputs) != sorted(names):
        usage_error(f"--input {path} holds arrays {sorted(inputs)}; the model's inputs are {names}")
    bad = [n for n, a in inputs.items() if a.dtype.kind not in "biuf"]
    if bad:
        usage_error(f"--input {path}: array(s) {bad} are not numeric ({inputs[bad[0]].dtype})")
    return inputs


def load_onnxruntime(config):
    import numpy as np
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = config["threads"]
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(HERE / config["artifact"]), sess_options=opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return lambda inputs: [np.asarray(o) for o in session.run(names, inputs)]


def load_openvino(config):
    import numpy as np
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
    import numpy as np
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
    inputs = read_inputs(args.input, config["input_names"])
    t0 = time.perf_counter()
    run = LOADERS[config["runtime"]](config)
    print(f"load: {(time.perf_counter() - t0) * 1e3:.1f} ms")
    t0 = time.perf_counter()
    try:
        outputs = run(inputs)
    except Exception as e:  # the runtime refused these inputs (shape, dtype): one line, not its traceback
        usage_error(f"the runtime refused --input {args.input}: {type(e).__name__}: "
                    f"{(str(e).strip().splitlines() or [''])[0][:300]}")
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
        try:
            save(args.output, outputs)
        except OSError as e:
            usage_error(f"cannot write --output {args.output}: {e.strerror or e}")


def save(path, outputs):
    import numpy as np

    np.savez(path, *outputs)


if __name__ == "__main__":
    main()
