"""Step and epoch timing shared by every trainer, so each framework is timed at the same boundaries.

A step's time is the interval between consecutive step ends (Keras' own ms/step): it includes fetching the batch
from the framework's loader and the optimizer update, as in real training. The first step of a fit also includes
tracing/compiling. Held-out evaluation at each epoch end is timed apart and excluded from training time, so
time-to-accuracy is training time only (MLPerf and DAWNBench stop the clock the same way between evaluations).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Clock:
    def __init__(self, evaluate: Callable[[], float] | None, target: float | None):
        self.evaluate = evaluate
        self.target = target
        self.steps_ns: list[int] = []
        self.epochs: list[dict] = []
        self.train_ns = 0
        self.eval_s = 0.0
        self.time_to_target_s: float | None = None
        self._mark = None

    def start(self) -> None:
        self._mark = time.perf_counter_ns()

    def step_end(self) -> None:
        now = time.perf_counter_ns()
        if self._mark is None:  # a framework whose hooks begin at the first step end
            self._mark = now
            return
        self.steps_ns.append(now - self._mark)
        self.train_ns += now - self._mark
        self._mark = now

    def epoch_end(self) -> None:
        entry = {"epoch": len(self.epochs) + 1, "train_s": self.train_ns / 1e9, "steps": len(self.steps_ns)}
        if self.evaluate is not None:
            t0 = time.perf_counter()
            entry["accuracy"] = float(self.evaluate())
            self.eval_s += time.perf_counter() - t0
            if self.time_to_target_s is None and self.target is not None and entry["accuracy"] >= self.target:
                self.time_to_target_s = entry["train_s"]
        self.epochs.append(entry)
        self._mark = time.perf_counter_ns()  # evaluation is not training time

    def summary(self) -> dict:
        return {"steps": len(self.steps_ns), "train_s": self.train_ns / 1e9, "eval_s": self.eval_s,
                "epochs": self.epochs, "time_to_target_s": self.time_to_target_s,
                "final_accuracy": self.epochs[-1].get("accuracy") if self.epochs else None}
