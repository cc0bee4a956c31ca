"""TensorFlow-family model inputs: .keras files, SavedModel directories and .tflite files.

inputs/model.py dispatches here by suffix (or by a directory holding saved_model.pb); worker/reference.py asks
`reference_outputs_tf` for the reference: TensorFlow itself for Keras/SavedModel input, LiteRT for .tflite input.
Each framework is imported inside the function that needs it, so `import edgepick` stays light.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from edgepick.core.artifact import Artifact, file_sha256
from edgepick.core.errors import UserError, first_line
from edgepick.inputs.signature import Signature, TensorSpec

TF_FORMATS = ("keras", "tf-savedmodel", "tflite")


def _spec(tensor_name: str, shape, dtype) -> TensorSpec:
    dims = [int(d) if d is not None and int(d) > 0 else None for d in shape]
    return TensorSpec(tensor_name, dims, np.dtype(dtype).name, batch_dynamic=bool(dims) and dims[0] is None)


def from_keras(path: Path, trust: bool = False):
    from edgepick.inputs.spec import ModelSpec

    if "keras" not in sys.modules:  # the reference is TensorFlow's, whatever the user's default backend
        os.environ["KERAS_BACKEND"] = "tensorflow"
    try:
        import keras
    except ImportError as e:
        raise UserError(f"{path} is a Keras model; install Keras and TensorFlow: pip install 'edgepick[tensorflow]'") from e
    if keras.backend.backend() != "tensorflow":
        raise UserError(f"keras was already imported with the {keras.backend.backend()} backend; edgepick computes a Keras "
                        "model's reference with TensorFlow: run it in a process started with KERAS_BACKEND=tensorflow")
    artifact = Artifact("keras", str(path.absolute()), {"trusted": trust})
    # A legacy HDF5 file (.h5/.hdf5, Keras 2 era) goes through the same loader: Keras 3 reads it with its legacy H5
    # path under the same safe-mode scope, which refuses a Lambda layer's marshalled bytecode unless trusted.
    kind = "Keras HDF5" if path.suffix.lower() in (".h5", ".hdf5") else ".keras"
    try:
        model = keras.saving.load_model(str(path), compile=False, safe_mode=not trust)
    except ValueError as e:
        if "safe_mode" in str(e) or "lambda" in str(e).lower():
            raise UserError(f"{path} holds a Lambda layer whose Python code Keras refuses to load in safe mode; "
                            "pass --trust-pickle if you trust its source") from e
        raise UserError(f"{path} is not a loadable {kind} model ({first_line(e, 200)}); re-save it with model.save()") from e
    except Exception as e:
        raise UserError(f"{path} is not a loadable {kind} model ({type(e).__name__}: {first_line(e, 200)}); "
                        "re-save it with model.save()") from e
    inputs = [_spec(t.name, t.shape, keras.backend.standardize_dtype(t.dtype)) for t in model.inputs]
    artifact.meta["input_names"] = [t.name for t in inputs]
    artifact.meta["weights_bytes"] = int(sum(np.prod(v.shape) * np.dtype(v.dtype).itemsize for v in model.weights))
    return ModelSpec(path.stem, artifact, Signature(inputs), file_sha256(path))


def is_savedmodel(path: Path) -> bool:
    return path.is_dir() and ((path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists())


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(file_sha256(f).encode())
    return h.hexdigest()


def from_savedmodel(path: Path):
    from edgepick.inputs.spec import ModelSpec

    try:
        import tensorflow as tf
    except ImportError as e:
        raise UserError(f"{path} is a TensorFlow SavedModel; install TensorFlow: pip install 'edgepick[tensorflow]'") from e
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:
        raise UserError(f"{path} is not a loadable SavedModel ({type(e).__name__}: {first_line(e, 200)})") from e
    if "serving_default" not in loaded.signatures:
        raise UserError(f"{path} has no serving_default signature (it has: {', '.join(loaded.signatures) or 'none'}); "
                        "export it with model.export() or tf.saved_model.save(..., signatures=...)")
    kwargs = loaded.signatures["serving_default"].structured_input_signature[1]
    inputs = [_spec(name, kwargs[name].shape.as_list(), kwargs[name].dtype.as_numpy_dtype) for name in sorted(kwargs)]
    artifact = Artifact("tf-savedmodel", str(path.absolute()), {"input_names": [t.name for t in inputs]})
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    artifact.meta["extra_files"] = []
    artifact.meta["weights_bytes"] = size
    return ModelSpec(path.name, artifact, Signature(inputs), _tree_hash(path))


def from_tflite(path: Path):
    from edgepick.inputs.spec import ModelSpec

    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as e:
        raise UserError(f"{path} is a LiteRT/TFLite model; install LiteRT: pip install 'edgepick[litert]'") from e
    try:
        details = Interpreter(model_path=str(path)).get_input_details()
    except Exception as e:
        raise UserError(f"{path} is not a valid .tflite model ({first_line(e, 200)}); re-convert it") from e
    inputs = [_spec(d["name"], [s if s >= 0 else None for s in d["shape_signature"]], d["dtype"]) for d in details]
    artifact = Artifact("tflite", str(path.absolute()), {"input_names": [t.name for t in inputs]})
    return ModelSpec(path.stem, artifact, Signature(inputs), file_sha256(path))
