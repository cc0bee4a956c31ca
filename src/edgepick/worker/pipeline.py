"""The application around the model: pre- and post-processing callables and the frames they start from.

A preprocess is a plain callable `frame -> inputs` (a dict of arrays by input name, or one array for a
single-input model); a postprocess is `outputs (list of arrays) -> anything`. Both run over NumPy, only inside the
isolated worker: the parent never imports a user's module.

Frames. A preprocess that declares `frame_shape` (e.g. `(480, 640, 3)`, a VGA camera) gets seeded synthetic
uint8 frames of that shape; any other frame is a batch of the run's eval inputs (real data when --data gave some).
By default every call gets a fresh frame from a ring of distinct ones, because feeding one buffer again and again
flatters runtimes that cache on the input's address (openvino_notebooks #534); `fresh=False` reuses one frame.

Built-ins for the zoo models (names instead of module:function):
  resize-normalize  VGA RGB uint8 camera frame -> resized to the model's H x W (cv2.INTER_LINEAR; PIL bilinear when
                    OpenCV is absent), grey for 1-channel models, scaled to [0, 1], normalised with the ImageNet mean
                    and std (0.5/0.5 for grey), HWC -> NCHW float32
  softmax-topk      softmax over the first output's last axis, then the top 5 classes per row, sorted
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

import numpy as np

CAMERA_FRAME = (480, 640, 3)
RING = 16
_MEAN_RGB, _STD_RGB = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)


def _resizer() -> tuple[Callable[[np.ndarray, int, int], np.ndarray], str]:
    try:
        import cv2

        cv2.setNumThreads(1)  # the worker's core budget is the runtime's; a preprocess on a camera loop is one thread
        return (lambda img, h, w: cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)), f"cv2 {cv2.__version__}"
    except ImportError:
        from PIL import Image

        def pil_resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
            return np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))

        return pil_resize, "PIL (OpenCV not installed)"


def resize_normalize(input_shapes: dict[str, tuple]) -> Callable:
    """The built-in image preprocess for an NCHW model with one input."""
    if len(input_shapes) != 1:
        raise ValueError(f"resize-normalize is for one image input; the model has {len(input_shapes)} inputs")
    name, shape = next(iter(input_shapes.items()))
    if len(shape) != 4 or shape[1] not in (1, 3):
        raise ValueError(f"resize-normalize needs an NCHW input with 1 or 3 channels; '{name}' is {shape}")
    channels, height, width = shape[1], shape[2], shape[3]
    resize, how = _resizer()
    mean, std = (_MEAN_RGB, _STD_RGB) if channels == 3 else (np.float32(0.5), np.float32(0.5))

    def preprocess(frames: np.ndarray) -> dict[str, np.ndarray]:
        out = np.empty((len(frames), channels, height, width), np.float32)
        for i, frame in enumerate(frames):
            img = resize(frame, height, width).astype(np.float32) * np.float32(1 / 255)
            if channels == 1:
                img = img.mean(axis=2, keepdims=True)
            out[i] = ((img - mean) / std).transpose(2, 0, 1)
        return {name: out}

    preprocess.frame_shape = CAMERA_FRAME  # VGA RGB, uint8
    preprocess.describe = f"resize-normalize ({how}; VGA RGB uint8 -> {channels}x{height}x{width} float32)"
    return preprocess


def softmax_topk(input_shapes: dict[str, tuple], k: int = 5) -> Callable:
    """The built-in classifier postprocess."""

    def postprocess(outputs: list[np.ndarray]) -> list[list[tuple[int, float]]]:
        logits = outputs[0].reshape(len(outputs[0]), -1)
        shifted = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(shifted)
        probs /= probs.sum(axis=1, keepdims=True)
        kk = min(k, probs.shape[1])
        top = np.argpartition(-probs, kk - 1, axis=1)[:, :kk]
        order = np.take_along_axis(probs, top, 1).argsort(axis=1)[:, ::-1]
        best = np.take_along_axis(top, order, 1)
        return [[(int(c), float(p[c])) for c in row] for p, row in zip(probs, best)]

    postprocess.describe = f"softmax-topk (top {k})"
    return postprocess


PREPROCESS = {"resize-normalize": resize_normalize}
POSTPROCESS = {"softmax-topk": softmax_topk}


def check_spec(text: str | None, option: str, builtins: dict) -> None:
    """Parent-side check of --preprocess/--postprocess: a built-in name or module:function (nothing is imported)."""
    from edgepick.core.errors import UserError

    if text is None or text in builtins:
        return
    module, sep, attr = text.partition(":")
    if not sep or not module.strip() or not attr.strip() or not attr.isidentifier():
        raise UserError(f"bad {option} '{text}': a built-in ({', '.join(builtins)}) or module:function, "
                        "e.g. my_pipeline:preprocess")


def load(text: str | None, builtins: dict, input_shapes: dict[str, tuple], sys_path: str | None) -> Callable | None:
    """Resolve a built-in name or import module:function (inside the worker only)."""
    if text is None:
        return None
    if text in builtins:
        return builtins[text](input_shapes)
    if sys_path and sys_path not in sys.path:
        sys.path.insert(0, sys_path)  # user modules import relative to where edgepick was run, like model factories
    module, _, attr = text.partition(":")
    fn = getattr(importlib.import_module(module), attr)
    if not callable(fn):
        raise TypeError(f"{text} is not callable")
    return fn


def describe(fn: Callable | None, text: str | None) -> str | None:
    return None if fn is None else getattr(fn, "describe", text)


def as_inputs(produced, names: list[str]) -> dict[str, np.ndarray]:
    """What a preprocess returned, as the runtime's input dict."""
    if isinstance(produced, dict):
        return produced
    if len(names) == 1:
        return {names[0]: produced}
    raise TypeError(f"the preprocess returned {type(produced).__name__}; a model with inputs {names} needs a dict")


def frame_ring(pre: Callable | None, samples: dict[str, np.ndarray], batch: int, batch_of, fresh: bool,
               data_source: str | None) -> tuple[list, str]:
    """(frames, what they are): the ring every call cycles through."""
    size = RING if fresh else 1
    shape = getattr(pre, "frame_shape", None)
    if shape is not None:
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, size=(batch, *shape), dtype=np.uint8) for _ in range(size)]
        what = f"synthetic {'x'.join(map(str, shape))} uint8 camera frames (seeded)"
    else:
        n = len(next(iter(samples.values())))
        size = min(size, max(1, n // batch))
        frames = [batch_of(samples, i * batch, batch) for i in range(size)]
        real = data_source and not str(data_source).startswith("synthetic")
        what = f"eval inputs ({data_source})" if real else f"synthetic eval inputs ({data_source or 'seeded'})"
    if not fresh:
        return frames, f"one frame reused for every call: {what}"
    return frames, f"fresh: a ring of {len(frames)} distinct frames, {what}"
