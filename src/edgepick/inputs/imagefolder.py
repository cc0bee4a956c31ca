"""--data as a folder of class sub-folders of images (ImageFolder layout): root/<class>/<image>.

Classes are the sub-folder names in sorted order (label i = i-th name). Images are resized to the model's input
size, scaled to [0, 1] and laid out as the model expects (NCHW when dim 1 is 1 or 3, else NHWC). Reading images
needs Pillow (`pip install 'edgepick[images]'`); nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepick.core.errors import UserError

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def _layout(shape: list) -> tuple[str, int | None, int | None, int]:
    if len(shape) != 4:
        raise UserError(f"an image folder needs a model with one 4-D image input; this one takes shape {shape}")
    if shape[1] in (1, 3):
        return "nchw", shape[2], shape[3], shape[1]
    if shape[3] in (1, 3):
        return "nhwc", shape[1], shape[2], shape[3]
    raise UserError(f"cannot tell the channel axis of input shape {shape}: give --input-shape, e.g. 1x3x224x224")


def read_image_folder(root: Path, sig, limit: int) -> tuple[dict[str, np.ndarray], np.ndarray, str]:
    try:
        from PIL import Image
    except ImportError as e:
        raise UserError("reading an image folder needs Pillow: pip install 'edgepick[images]' (or pip install pillow)") from e
    if len(sig.inputs) != 1:
        raise UserError(f"an image folder feeds one input; the model has {len(sig.inputs)}")
    layout, height, width, channels = _layout(sig.inputs[0].shape)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise UserError(f"{root} has no class sub-folders; lay it out as {root}/<class>/<image>.png")
    files = [(f, i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir()) if f.suffix.lower() in SUFFIXES]
    if not files:
        raise UserError(f"{root}: no images ({', '.join(sorted(SUFFIXES))}) under its class sub-folders")
    rng = np.random.default_rng(0)  # a fixed-seed sample when there are more images than --data-limit
    if len(files) > limit:
        files = [files[i] for i in sorted(rng.choice(len(files), size=limit, replace=False))]
    arrays = []
    for f, _ in files:
        with Image.open(f) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if height and width:
                img = img.resize((width, height), Image.BILINEAR)
            a = np.asarray(img, dtype=np.float32) / 255.0
        a = a[:, :, None] if a.ndim == 2 else a
        arrays.append(a.transpose(2, 0, 1) if layout == "nchw" else a)
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise UserError(f"{root}: images differ in size {sorted(shapes)[:3]} and the model's input size is not fixed; "
                        "give --input-shape, e.g. 1x3x224x224")
    y = np.array([label for _, label in files], dtype=np.int64)
    source = f"{root} (image folder: {len(files)} images, classes {', '.join(classes[:10])}{'...' if len(classes) > 10 else ''})"
    return {sig.inputs[0].name: np.stack(arrays)}, y, source
