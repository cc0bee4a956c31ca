"""The framework variants `edgepick train` compares, and how each one's worker process is started.

A variant is a framework in one execution mode: PyTorch eager and torch.compile; Keras 3 on TensorFlow as a
tf.function graph and with jit_compile (XLA); Keras 3 on JAX (always jax.jit); Keras 3 on PyTorch (eager, Keras'
default there); MXNet Gluon hybridized (its static graph), in its own venv. Keras picks its backend once, at import,
from KERAS_BACKEND, so each Keras variant gets it in its worker's environment before Python starts.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass

from edgepick.core import envs


@dataclass(frozen=True)
class Framework:
    name: str
    trainer: str  # "module:Class" of the trainer, imported inside the worker
    family: str  # the chapter's row this variant speaks for: pytorch | tensorflow | keras | mxnet | caffe | theano
    mode: str  # how its graph runs, in words
    needs: tuple[str, ...] = ()  # importable modules in the main environment
    backend: str | None = None  # KERAS_BACKEND
    env: str | None = None  # a per-framework venv (core/envs.py)
    options: tuple[tuple[str, object], ...] = ()  # passed to the trainer
    unavailable: str | None = None  # no maintained runtime installable here: always a row saying so

    def missing(self) -> str | None:
        """Why this variant cannot run here (one line, with what to do), or None."""
        if self.unavailable:
            return self.unavailable
        if self.env:
            return envs.unavailable_reason(self.env)
        absent = [m for m in self.needs if importlib.util.find_spec(m) is None]
        if absent:
            extra = "jax" if "jax" in absent else ("tensorflow" if "tensorflow" in absent else "torch")
            return f"{', '.join(absent)} not installed: pip install 'edgepick[{extra}]'"
        return None

    def launch(self, threads: int) -> tuple[str, dict[str, str]]:
        python, overrides = envs.interpreter_for(self.env)
        overrides = dict(overrides, OMP_NUM_THREADS=str(threads), TF_CPP_MIN_LOG_LEVEL="2")
        if self.backend:
            overrides["KERAS_BACKEND"] = self.backend
        if self.backend == "jax":  # XLA sizes its CPU pool when its client starts, before any code could set it
            eigen = "true" if threads > 1 else "false"
            flags = f"--xla_cpu_multi_thread_eigen={eigen} intra_op_parallelism_threads={threads}"
            overrides["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()
        if python == sys.executable and "PYTHONPATH" not in overrides:
            # The worker imports this very edgepick (a worktree or an editable install), whatever the cwd is.
            src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
            overrides["PYTHONPATH"] = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
        return python, overrides


_NO_RUNTIME = ("no maintained {what} training runtime is installable here: {why}")

FRAMEWORKS: dict[str, Framework] = {f.name: f for f in (
    Framework("pytorch", "edgepick.train.torch_trainer:TorchTrainer", "pytorch", "eager (define-by-run)", ("torch",)),
    Framework("pytorch-compile", "edgepick.train.torch_trainer:TorchTrainer", "pytorch",
              "torch.compile (TorchDynamo + Inductor), forward and backward", ("torch",), options=(("compile", True),)),
    Framework("keras-tensorflow", "edgepick.train.keras_trainer:KerasTrainer", "tensorflow",
              "Keras 3 fit on TensorFlow, tf.function graph (jit_compile=False)", ("keras", "tensorflow"), "tensorflow",
              options=(("jit_compile", False),)),
    Framework("keras-tensorflow-xla", "edgepick.train.keras_trainer:KerasTrainer", "tensorflow",
              "Keras 3 fit on TensorFlow, XLA (jit_compile=True)", ("keras", "tensorflow"), "tensorflow",
              options=(("jit_compile", True),)),
    Framework("keras-jax", "edgepick.train.keras_trainer:KerasTrainer", "keras",
              "Keras 3 fit on JAX, jax.jit (XLA)", ("keras", "jax"), "jax", options=(("jit_compile", True),)),
    Framework("keras-torch", "edgepick.train.keras_trainer:KerasTrainer", "keras",
              "Keras 3 fit on PyTorch, eager (Keras' default there)", ("keras", "torch"), "torch",
              options=(("jit_compile", False),)),
    Framework("mxnet", "edgepick.train.mxnet_trainer:MxnetTrainer", "mxnet",
              "MXNet 1.9.1 Gluon, hybridized (static graph)", env="mxnet"),
    Framework("caffe", "", "caffe", "-", unavailable=_NO_RUNTIME.format(
        what="Caffe", why="BVLC Caffe's last release is 1.0 (2017) and pycaffe has no wheel (it is built from source "
        "against Boost.Python); PyPI's `caffe` 0.1.0 is an empty placeholder (checked 2026-11-29), and Caffe2 was "
        "folded into PyTorch in 2018. OpenCV DNN still reads Caffe models, for inference only")),
    Framework("theano", "", "theano", "-", unavailable=_NO_RUNTIME.format(
        what="Theano", why="Theano 1.0.5 (2020, the last release) installs from PyPI, but `import theano` fails on "
        "Python 3.11: its C lazylinker uses the Python 2 API (PyInt_AsLong, Py_InitModule3) and does not compile "
        "(checked 2026-11-29); its forks Aesara/PyTensor dropped Theano's neural-network training stack")),
)}

DEFAULT = list(FRAMEWORKS)


def family_of(name: str) -> str:
    return FRAMEWORKS[name].family
