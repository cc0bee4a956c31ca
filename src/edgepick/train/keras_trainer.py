"""Keras 3 on TensorFlow, JAX or PyTorch: the same Keras model and `fit`, on the backend KERAS_BACKEND names.

The launcher sets KERAS_BACKEND (and XLA_FLAGS for JAX) before the worker starts. Each backend gets its idiomatic
input pipeline: tf.data for TensorFlow, a NumPy iterator for JAX, a torch DataLoader for PyTorch; all channels-last.
Seeds reuse the compiled train function: weights are set in place and the optimizer's slots and step counter are
zeroed, so only the warm-up fit pays for tracing/compiling, as in a real training job.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from edgepick.train import data as train_data
from edgepick.train import weights


class _Hooks:
    """A keras.callbacks.Callback built lazily (keras must not be imported before the backend is chosen)."""

    @staticmethod
    def make(clock):
        import keras

        class TimingCallback(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                clock.start()

            def on_train_batch_end(self, batch, logs=None):  # overriding it keeps fit synchronous per step
                clock.step_end()

            def on_epoch_end(self, epoch, logs=None):
                clock.epoch_end()

        return TimingCallback()


class KerasTrainer:
    def __init__(self, options: dict):
        self.jit_compile = bool(options.get("jit_compile"))
        self.model = self.backend = None

    def import_framework(self, threads: int) -> str:
        import keras

        self.backend = keras.backend.backend()
        if self.backend != os.environ.get("KERAS_BACKEND"):
            raise RuntimeError(f"keras runs on {self.backend}, not {os.environ.get('KERAS_BACKEND')}")
        if self.backend == "tensorflow":
            import tensorflow as tf

            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            return f"keras {keras.__version__}, tensorflow {tf.__version__}"
        if self.backend == "torch":
            import torch

            torch.set_num_threads(threads)
            torch.set_num_interop_threads(1)
            return f"keras {keras.__version__}, torch {torch.__version__}"
        import jax

        return f"keras {keras.__version__}, jax {jax.__version__}"

    def make_loader(self, x, y, batch: int, seed: int, workers: int):
        x = train_data.to_nhwc(x)
        if self.backend == "tensorflow":
            return train_data.tf_dataset(x, y, batch, seed)
        if self.backend == "torch":
            return train_data.torch_loader(x, y, batch, seed, workers)
        return _NumpyFeed(train_data.numpy_batches(x, y, batch, seed), len(x) // batch)

    def iterate(self, loader):
        return loader.epoch() if isinstance(loader, _NumpyFeed) else iter(loader)

    def build(self, job: dict, state: dict) -> None:
        import keras

        from edgepick.train.keras_models import build

        self.job = job
        c, h, w = job["input_chw"]
        self.flatten = job.get("flatten_chw")
        if job.get("user_model"):
            from edgepick.train.user_models import keras_model

            self.model = keras_model(job["user_model"], self.backend, (h, w, c), 0)
            self.initial = self.model.get_weights()
        else:
            self.model = build(job["model"], (h, w, c), weights.num_classes(job["model"]))
            weights.load_into_keras(self.model, state, self.flatten, broken=job.get("broken_copy", False))
        hp = job["hyperparameters"]
        opt = hp["optimizer"]
        total = job["total_steps"]
        # CosineDecay with alpha=1 is a constant rate: a schedule either way, so the rate is never an optimizer slot.
        lr = keras.optimizers.schedules.CosineDecay(hp["lr"], total, alpha=0.0 if hp["schedule"] == "cosine" else 1.0)
        if opt["name"] == "adam":
            optimizer = keras.optimizers.Adam(lr, beta_1=opt["beta_1"], beta_2=opt["beta_2"], epsilon=opt["epsilon"])
        else:
            optimizer = keras.optimizers.SGD(lr, momentum=opt["momentum"])
        self.model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           jit_compile=self.jit_compile)

    def forward(self, x: np.ndarray) -> np.ndarray:
        import keras

        return np.asarray(keras.ops.convert_to_numpy(self.model(train_data.to_nhwc(x), training=False)))

    def reset(self, state: dict, total_steps: int) -> None:
        if state is None:  # a user's model: back to its own initial weights
            self.model.set_weights(self.initial)
        else:
            weights.load_into_keras(self.model, state, self.flatten, broken=self.job.get("broken_copy", False))
        for v in self.model.optimizer.variables:  # step counter and Adam/momentum slots back to zero
            v.assign(np.zeros(v.shape, dtype=v.dtype))

    def fit(self, loader, epochs: int, clock) -> None:
        extra = {"steps_per_epoch": loader.steps} if isinstance(loader, _NumpyFeed) else {}
        source = loader.forever() if isinstance(loader, _NumpyFeed) else loader
        self.model.fit(source, epochs=epochs, verbose=0, callbacks=[_Hooks.make(clock)], shuffle=False, **extra)

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        logits = self.model.predict(train_data.to_nhwc(x), batch_size=512, verbose=0)
        return float((np.asarray(logits).argmax(1) == y).mean())

    def save(self, out_dir: Path) -> dict:
        path = out_dir / f"{self.job.get('save_stem', 'model')}.keras"
        self.model.save(str(path))
        return {"format": "keras", "path": str(path)}


class _NumpyFeed:
    """JAX's input: a NumPy iterator, one seeded permutation per epoch; `forever` chains epochs for Keras' fit."""

    def __init__(self, make_epoch, steps: int):
        self.epoch, self.steps = make_epoch, steps

    def forever(self):  # a generator object: Keras' fit recognises generators by type
        yield from itertools.chain.from_iterable(self.epoch() for _ in itertools.count())
