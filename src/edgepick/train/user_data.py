"""`edgepick train --data`: the forms `edgepick run` accepts (an .npz with x and y, a module:callable returning (x, y))
plus a folder of class sub-folders of images, read by edgepick.inputs.data's reader, then split once for every framework.

Training needs labels, so y is required. Images are stored channels-first (N x C x H x W, the run's file layout); an
NHWC array (last axis 1 or 3, second not) is transposed once, and N x H x W gets a channel axis. The held-out split is
20% per class, drawn with seed 0 (the same rule as the built-in digits split), so every framework sees the same split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from edgepick.core.errors import UserError

HELD_OUT = 0.2
SAMPLE_LIMIT = 10_000_000  # no cap in practice: training uses the whole data set


def data_digest(data: str) -> str:
    """What the run's key records of --data: the file's (or the folder's files') content hash, or the callable's name."""
    path = Path(data).expanduser()
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(path.read_bytes())
    elif path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(f.relative_to(path)).encode() + f.read_bytes())
    elif data.endswith(".npz"):
        raise UserError(f"no such data file: {data}")
    else:
        digest.update(data.encode())
    return digest.hexdigest()


def _signature(data: str, image_chw: tuple[int, int, int] | None):
    from edgepick.inputs.signature import Signature, TensorSpec

    if Path(data).expanduser().is_dir():  # images resized to image_chw, or kept at their own (uniform) size
        shape = [None, *image_chw] if image_chw else [None, 3, None, None]
    else:
        shape = [None]
    return Signature([TensorSpec("x", shape)])


def _to_nchw(x: np.ndarray, data: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise UserError(f"--data {data}: x must be images, N x C x H x W (or N x H x W x C, N x H x W); it has shape "
                        f"{'x'.join(map(str, x.shape))}")
    if x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)


def read(data: str, image_chw: tuple[int, int, int] | None = None):
    """(x NCHW float32, y int64, source) from --data; one clear line on anything a user can fix."""
    from edgepick.inputs.data import read_data_arg

    read_back = read_data_arg(data, _signature(data, image_chw), SAMPLE_LIMIT)
    x, y, source = read_back
    x = next(iter(x.values())) if isinstance(x, dict) else x
    if y is None:
        raise UserError(f"--data {data}: training needs labels; save them as y (numpy.savez(path, x=..., y=...))")
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or len(y) != len(x) or y.min() < 0:
        raise UserError(f"--data {data}: y must be one non-negative integer class per sample ({len(x)} samples)")
    return _to_nchw(x, data), y.astype(np.int64), source


def split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified: HELD_OUT of each class (at least one sample when the class has two or more), seed 0."""
    rng = np.random.default_rng(0)
    held = []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        if len(idx) > 1:
            held.extend(idx[: max(1, round(len(idx) * HELD_OUT))])
    mask = np.zeros(len(y), bool)
    mask[held] = True
    if mask.all() or not mask.any():
        raise UserError(f"--data: {len(y)} samples are too few to hold out {HELD_OUT:.0%} per class and train on the rest")
    return x[~mask], y[~mask], x[mask], y[mask]
