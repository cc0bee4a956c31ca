"""The data every framework trains on (one .npz, written once by the parent), and each framework's own loader.

Layout in the file is NCHW float32 (PyTorch's and MXNet's); Keras runs channels-last, so its loaders transpose to
NHWC once, before the pipeline, as a Keras user would store the data. Loaders are the idiomatic ones: tf.data with
shuffle, batch and prefetch; torch.utils.data.DataLoader with worker processes; a NumPy iterator for JAX; MXNet's
gluon.data.DataLoader. Each shuffles with the run's seed using its own generator, so the orders differ between
frameworks (recorded); all drop the last partial batch, so every step has the same shape (no retracing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

PROBE = 32  # samples in the forward-equivalence probe


def prepare(config, path: Path) -> dict:
    """Write the splits (and the probe batch) to `path`; return what was written, for the run's record."""
    if config.data is not None:
        from edgepick.train import user_data

        x, y, read_from = user_data.read(config.data, config.image_chw())
        x_train, y_train, x_eval, y_eval = user_data.split(x, y)
        source = f"{read_from}: {len(y)} samples, {len(np.unique(y))} classes, 20% per class held out, seed 0"
    elif config.has_accuracy:
        from edgepick.zoo.digits import eval_set, train_set

        x_train, y_train = train_set()
        x_eval, y_eval = eval_set()
        source = "scikit-learn digits (8x8, 10 classes), 80/20 stratified split, seed 0 (edgepick.zoo.digits)"
    else:
        c, h, w = config.input_chw()
        rng = np.random.default_rng(0)
        n = config.batch * (config.steps + 1)
        x_train = rng.standard_normal((n, c, h, w), dtype=np.float32)
        y_train = rng.integers(0, config.num_classes, n).astype(np.int64)
        x_eval, y_eval = x_train[: config.batch], y_train[: config.batch]
        source = f"synthetic: {n} seeded N(0,1) images {c}x{h}x{w}, random labels (step time and memory only)"
    if len(x_train) < config.batch:  # every loader drops the last partial batch: there would be no step at all
        from edgepick.core.errors import UserError

        raise UserError(f"--batch {config.batch} is larger than the {len(x_train)} training samples: lower --batch")
    probe = np.ascontiguousarray(x_eval[:PROBE])
    np.savez(path, x_train=x_train, y_train=y_train, x_eval=x_eval, y_eval=y_eval, x_probe=probe)
    return {"source": source, "train_samples": int(len(x_train)), "eval_samples": int(len(x_eval)),
            "classes": int(max(y_train.max(), y_eval.max())) + 1,
            "input_chw": list(x_train.shape[1:]), "augmentation": "none",
            "shuffle": "each framework's own loader, seeded with the run's seed (orders differ between frameworks)"}


def load(path: str) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def to_nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def numpy_batches(x: np.ndarray, y: np.ndarray, batch: int, seed: int) -> Callable[[], Iterable]:
    """A re-iterable NumPy iterator (JAX's idiomatic input): a fresh seeded permutation per pass."""
    rng = np.random.default_rng(seed)

    def epoch():
        order = rng.permutation(len(x))
        for start in range(0, len(x) - batch + 1, batch):
            idx = order[start:start + batch]
            yield x[idx], y[idx]

    return epoch


def tf_dataset(x: np.ndarray, y: np.ndarray, batch: int, seed: int):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def torch_loader(x: np.ndarray, y: np.ndarray, batch: int, seed: int, workers: int):
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    dataset = TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    return DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
                      persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed))


def throughput(make_epoch: Callable[[], Iterable], min_s: float = 1.0, min_epochs: int = 2) -> dict:
    """Samples/s of a loader alone (no model): whole passes until both floors are met; the first pass (worker
    start-up, tf.data's first autotune) is reported apart."""
    t0 = time.perf_counter()
    first = sum(_batch_len(b) for b in make_epoch())
    first_s = time.perf_counter() - t0
    samples, epochs = 0, 0
    t0 = time.perf_counter()
    while epochs < min_epochs or time.perf_counter() - t0 < min_s:
        samples += sum(_batch_len(b) for b in make_epoch())
        epochs += 1
    elapsed = time.perf_counter() - t0
    return {"samples_per_s": samples / elapsed, "first_pass_s": first_s, "first_pass_samples": first,
            "passes": epochs, "seconds": elapsed}


def _batch_len(batch) -> int:
    first = batch[0] if isinstance(batch, (tuple, list)) else batch
    return int(first.shape[0])
