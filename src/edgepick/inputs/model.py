"""ModelSpec: what the user gave, detected, loaded safely, with its input signature and content hash."""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any

from edgepick.core.artifact import Artifact, file_sha256
from edgepick.core.errors import UserError, first_line
from edgepick.inputs.signature import Signature, TensorSpec
from edgepick.inputs.spec import ModelSpec
from edgepick.inputs.torch_dims import batch_dynamic_shapes, example_tensors
from edgepick.inputs.usercode import call_user_factory, quiet_logger, user_code_failure
from edgepick.zoo import ZOO

_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64"}
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".bin")
TORCHSCRIPT_SUFFIXES = (".jit", ".ts", ".torchscript")  # .pt/.pth may hold either: the zip's entries decide
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_model(source: Any, trust_pickle: bool = False, work_dir: Path | None = None) -> ModelSpec:
    """Turn a path, a zoo name, a 'module:callable' factory or an nn.Module into a ModelSpec, or raise UserError."""
    if not isinstance(source, (str, os.PathLike)):
        return _from_module(source, work_dir)
    text = str(source)
    if text in ZOO:
        return _from_zoo(text)
    path = Path(text)
    if not path.exists():
        if _FACTORY.match(text):
            return _from_factory(text)
        raise UserError(f"no such file: {text} (give an .onnx/.pt2 file, a module:callable factory, or one of {', '.join(ZOO)})")
    if path.is_dir():
        from edgepick.inputs import tf_models as model_tf

        if model_tf.is_savedmodel(path):
            return model_tf.from_savedmodel(path)
        raise UserError(f"{text} is a directory; give the model file itself (or a SavedModel directory)")
    if path.stat().st_size == 0:
        raise UserError(f"{text} is empty (0 bytes); re-export the model")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return _from_onnx(path)
    if suffix == ".pt2":
        return _from_exported(path)
    if suffix in PICKLE_SUFFIXES + TORCHSCRIPT_SUFFIXES:
        from edgepick.inputs.torchscript import from_torchscript, is_torchscript_archive

        if is_torchscript_archive(path):
            return from_torchscript(path, trust_pickle)
        if suffix in TORCHSCRIPT_SUFFIXES:
            raise UserError(f"{text} is not a TorchScript archive (a torch.jit.save zip with code/ and constants.pkl); "
                            "re-save the module with torch.jit.save(torch.jit.script(m) or torch.jit.trace(m, x), path)")
        return _from_pickle(path, trust_pickle)
    if suffix in (".prototxt", ".cfg"):  # Caffe / Darknet: the weights file sits beside it (inputs/opencv_models.py)
        from edgepick.inputs.opencv_models import from_two_files

        return from_two_files(path, "caffe" if suffix == ".prototxt" else "darknet")
    if suffix in KERAS_SUFFIXES + (".tflite",):  # TensorFlow-family inputs: inputs/tf_models.py (.h5/.hdf5: legacy Keras)
        from edgepick.inputs import tf_models as model_tf

        return model_tf.from_keras(path, trust_pickle) if suffix in KERAS_SUFFIXES else model_tf.from_tflite(path)
    raise UserError(f"{text}: unrecognised model format '{suffix or 'no suffix'}'; edgepick reads .onnx, .pt2, "
                    "TorchScript (.pt/.jit/.ts), .keras/.h5, .tflite, SavedModel dirs, "
                    f"module:callable factories and zoo names ({', '.join(ZOO)})")


def _torch_signature(shape, names=("input",)) -> Signature:
    return Signature([TensorSpec(n, list(shape), "float32", batch_dynamic=True) for n in names])


def _state_hash(module, salt: str) -> str:
    h = hashlib.sha256(salt.encode())
    for key, tensor in module.state_dict().items():
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _from_zoo(name: str) -> ModelSpec:
    entry = ZOO[name]
    spec = _from_factory(entry.factory, name=name, shape=entry.input_shape)
    spec.data_factory = entry.data
    return spec


def _from_factory(spec: str, name: str | None = None, shape=None) -> ModelSpec:
    module_name, _, attr = spec.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as e:
        raise UserError(f"cannot import factory '{spec}': {e}") from e
    except (Exception, SystemExit) as e:  # the module's own code failed at import: the user's bug, in one line
        raise UserError(f"importing '{module_name}' for factory '{spec}' failed: {user_code_failure(e)}") from e
    module = call_user_factory(factory, spec)
    _require_module(module, spec)
    module.eval()
    shape = shape or getattr(module, "example_input_shape", None)
    sig = _torch_signature(shape) if shape else Signature([])
    digest = _state_hash(module, spec)
    if _state_hash(call_user_factory(factory, spec), spec) != digest:
        # Each call gives other weights (an unseeded init): a worker calling the factory again would measure a
        # different model. Measure this very instance instead, saved as an ExportedProgram like an API module.
        spec_obj = ModelSpec(name or spec, Artifact("torch-module", "", {"input_names": ["input"]}), sig, digest,
                             module=module)
        spec_obj.artifact.meta.update(weights_bytes=_weights_bytes(module), nondeterministic_factory=spec)
        return spec_obj
    artifact = Artifact("torch-factory", spec, {"sys_path": cwd, "input_names": ["input"],
                                                 "weights_bytes": _weights_bytes(module)})
    return ModelSpec(name or spec, artifact, sig, digest, module=module)


def _from_module(module, work_dir: Path | None) -> ModelSpec:
    """An nn.Module from the Python API: saved as an ExportedProgram so worker processes can load it safely."""
    _require_module(module, type(module).__name__)
    module.eval()
    digest = _state_hash(module, type(module).__qualname__)
    spec = ModelSpec(type(module).__name__, Artifact("torch-module", "", {"input_names": ["input"]}),
                     Signature([]), digest, module=module)
    spec.artifact.meta["weights_bytes"] = _weights_bytes(module)
    return spec


def export_module(spec: ModelSpec, out_dir: Path) -> None:
    """Once the signature is known, save an API module as a .pt2 the workers can load (no pickle, no source needed)."""
    import torch

    path = out_dir / "model.pt2"
    if not path.exists():
        example = example_tensors(spec.signature, 2)
        dyn = batch_dynamic_shapes(True for _ in example)
        try:
            if spec.signature.whole_feeds:  # no batch axis (a scalar input, a recurrent state): static shapes
                raise ValueError("no batch axis")
            program = torch.export.export(spec.module, example, dynamic_shapes=dyn)
        except Exception:
            program = torch.export.export(spec.module, example)
            for t in spec.signature.inputs:
                t.batch_dynamic = False
        tmp = out_dir / f"model.{os.getpid()}.pt2"
        torch.export.save(program, tmp)
        os.replace(tmp, path)
    spec.artifact = Artifact("torch-exported", str(path), dict(spec.artifact.meta))


def _require_module(obj, what: str) -> None:
    import torch

    if not isinstance(obj, torch.nn.Module):
        raise UserError(f"{what} gave a {type(obj).__name__}, not a torch.nn.Module")


def _weights_bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def _from_onnx(path: Path) -> ModelSpec:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
        onnx.checker.check_model(proto)
    except Exception as e:
        first = first_line(e, 160)
        raise UserError(f"{path} is not a valid ONNX model (truncated or corrupt: {first}); re-export it") from e
    if not proto.graph.node:
        raise UserError(f"{path} is not a valid ONNX model (it has no nodes); re-export it")
    initializers = {i.name for i in proto.graph.initializer}
    inputs = []
    for inp in proto.graph.input:
        if inp.name in initializers:
            continue
        ttype = inp.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in ttype.shape.dim]
        dtype = _ONNX_DTYPES.get(ttype.elem_type)
        if dtype is None:
            raise UserError(f"input '{inp.name}' of {path} has an ONNX element type ({ttype.elem_type}) edgepick cannot feed")
        inputs.append(TensorSpec(inp.name, shape, dtype, batch_dynamic=bool(shape) and shape[0] is None))
    for t in inputs:
        t.high = _indexed_rows(proto, t.name) if t.dtype in ("int32", "int64") else None
    extra = [str(path.parent / e.value) for t in proto.graph.initializer for e in t.external_data if e.key == "location"]
    artifact = Artifact("onnx", str(path.absolute()), {"extra_files": sorted(set(extra))})
    return ModelSpec(path.stem, artifact, Signature(inputs), file_sha256(path))


def _indexed_rows(proto, name: str) -> int | None:
    """Rows of the smallest table an integer input indexes directly (Gather on an initializer: token ids into an
    embedding), so synthetic ids stay in range; None when it indexes none."""
    tables = {i.name: i.dims[0] for i in proto.graph.initializer if i.dims}
    rows = [tables[n.input[0]] for n in proto.graph.node
            if n.op_type == "Gather" and len(n.input) > 1 and n.input[1] == name and n.input[0] in tables
            and not any(a.name == "axis" and a.i != 0 for a in n.attribute)]
    return min(rows) if rows else None


def _from_exported(path: Path) -> ModelSpec:
    from edgepick.inputs.validate import is_zip_archive

    if not is_zip_archive(path):  # torch would log a 12-line traceback before raising
        raise UserError(f"{path} is not a torch.export program (not a zip archive); re-save it with torch.export.save")
    import torch

    try:
        with quiet_logger("torch.export"):
            program = torch.export.load(str(path))
            # A damaged program can load and still fail here (fuzz/: a module_call_graph entry without its signature)
            module = program.module()
            vals = [n.meta["val"] for n in program.graph.nodes
                    if n.op == "placeholder" and n.name in program.graph_signature.user_inputs]
    except Exception as e:
        raise UserError(f"{path} is not a loadable torch.export program ({type(e).__name__}); re-save it with torch.export.save") from e
    shapes = [list(v.shape) for v in vals]
    dtypes = [str(v.dtype).removeprefix("torch.") for v in vals]  # int64 token ids stay int64
    names = [f"input_{i}" if len(shapes) > 1 else "input" for i in range(len(shapes))]
    inputs = [TensorSpec(n, [int(d) if str(d).isdigit() else None for d in s], dt,
                         batch_dynamic=bool(s) and not str(s[0]).isdigit()) for n, s, dt in zip(names, shapes, dtypes)]
    artifact = Artifact("torch-exported", str(path.absolute()), {"input_names": names})
    return ModelSpec(path.stem, artifact, Signature(inputs), file_sha256(path), module=module)


def _from_pickle(path: Path, trust: bool) -> ModelSpec:
    if not trust:
        raise UserError(f"{path} is a pickle: loading it runs arbitrary code. Re-save it with torch.export (.pt2) or "
                        "ONNX, give a module:callable factory, or pass --trust-pickle if you trust its source")
    import torch

    try:
        module = torch.load(str(path), weights_only=False, map_location="cpu")
    except (ModuleNotFoundError, AttributeError) as e:  # the pickle names a class this process cannot import
        raise UserError(f"{path} could not be unpickled: {e}. The model's class must be importable: run edgepick from "
                        "the folder that holds its module, or add that folder to PYTHONPATH") from e
    except Exception as e:
        raise UserError(f"{path} could not be unpickled ({type(e).__name__}: {e})") from e
    if isinstance(module, dict):
        raise UserError(f"{path} holds a state_dict, not a model; give a module:callable factory that loads it")
    _require_module(module, str(path))
    module.eval()
    artifact = Artifact("torch-pickle", str(path.absolute()), {"trusted": True, "input_names": ["input"]})
    sig = Signature([])
    return ModelSpec(path.stem, artifact, sig, file_sha256(path), module=module)
