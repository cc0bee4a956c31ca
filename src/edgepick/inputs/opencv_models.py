"""Caffe and Darknet inputs: two files each, read only by OpenCV DNN.

The user names the text file (.prototxt / .cfg); the weights file is the one beside it with the same stem
(.caffemodel / .weights), or the only such file in that folder. Neither format is pickle: safe to load.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from edgepick.core.artifact import Artifact
from edgepick.core.errors import UserError
from edgepick.inputs.signature import Signature, TensorSpec

WEIGHT_SUFFIX = {"caffe": ".caffemodel", "darknet": ".weights"}


def _weights_beside(text_file: Path, fmt: str) -> Path:
    suffix = WEIGHT_SUFFIX[fmt]
    same = text_file.with_suffix(suffix)
    if same.exists():
        return same
    found = sorted(text_file.parent.glob(f"*{suffix}"))
    if len(found) == 1:
        return found[0]
    raise UserError(f"{text_file}: put its {suffix} weights beside it as {same.name}"
                    + (f" (found several: {', '.join(p.name for p in found)})" if found else ""))


def _hash(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()


def caffe_inputs(text: str) -> list[TensorSpec]:
    """Input names and shapes from a deploy prototxt: `input:` + `input_dim:`/`input_shape`, or Input layers."""
    names = re.findall(r'^\s*input\s*:\s*"([^"]+)"', text, flags=re.M)
    if names:
        dims = [int(d) for d in re.findall(r"^\s*input_dim\s*:\s*(\d+)", text, flags=re.M)]
        shapes = [dims[i * 4:(i + 1) * 4] for i in range(len(names))] if dims else []
        if not shapes:
            blocks = re.findall(r"input_shape\s*\{([^}]*)\}", text)
            shapes = [[int(d) for d in re.findall(r"dim\s*:\s*(\d+)", b)] for b in blocks]
    else:
        layers = re.findall(r'type\s*:\s*"Input"(.*?)\}\s*\}', text, flags=re.S)
        names, shapes = [], []
        for body in layers:
            top = re.search(r'top\s*:\s*"([^"]+)"', body)
            names.append(top.group(1) if top else "data")
            shapes.append([int(d) for d in re.findall(r"dim\s*:\s*(\d+)", body)])
    if not names or len(shapes) != len(names) or not all(shapes):
        raise UserError("the prototxt declares no input shape (input_dim, input_shape or an Input layer); "
                        "give one with --input-shape")
    return [TensorSpec(n, list(s), "float32", batch_dynamic=True) for n, s in zip(names, shapes)]


def darknet_inputs(text: str) -> list[TensorSpec]:
    net = re.search(r"\[net\](.*?)(?=^\[|\Z)", text, flags=re.S | re.M)
    if not net:
        raise UserError("the .cfg has no [net] section; is it a Darknet config?")
    values = dict(re.findall(r"^\s*(\w+)\s*=\s*(\S+)", net.group(1), flags=re.M))
    try:
        shape = [1, int(values.get("channels", 3)), int(values["height"]), int(values["width"])]
    except KeyError as e:
        raise UserError(f"the .cfg [net] section lacks {e.args[0]}") from e
    except ValueError as e:  # found by fuzz/ (darknet target): height=abc
        raise UserError(f"the .cfg [net] section has a channels/height/width that is not a whole number ({e})") from e
    if min(shape) < 1:
        raise UserError(f"the .cfg [net] section gives an input shape {shape}; channels, height and width must be >= 1")
    return [TensorSpec("input", shape, "float32", batch_dynamic=True)]


def from_two_files(path: Path, fmt: str):
    from edgepick.inputs.spec import ModelSpec

    weights = _weights_beside(path, fmt)
    text = path.read_text(errors="replace")
    inputs = caffe_inputs(text) if fmt == "caffe" else darknet_inputs(text)
    artifact = Artifact(fmt, str(path.absolute()), {"weights": str(weights.absolute()), "extra_files": [str(weights.absolute())],
                                                    "input_names": [t.name for t in inputs]})
    return ModelSpec(path.stem, artifact, Signature(inputs), _hash(path, weights))
