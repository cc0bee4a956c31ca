"""Built-in models. Each entry is a factory spec a worker process can import to rebuild the exact module."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZooEntry:
    name: str
    factory: str  # "module:callable" returning an nn.Module in eval mode
    input_shape: tuple[int, ...]
    data: str | None  # "module:callable" returning (x_eval, y_eval) with real labels, or None
    description: str


ZOO = {
    e.name: e
    for e in (
        ZooEntry(
            "digits-cnn",
            "edgepick.zoo.digits:build",
            (1, 1, 8, 8),
            "edgepick.zoo.digits:eval_set",
            "small CNN trained in-process on scikit-learn's handwritten digits (real labels, 20% held out)",
        ),
        ZooEntry(
            "mobilenetv2-like",
            "edgepick.zoo.mobilenet:build",
            (1, 3, 224, 224),
            None,
            "MobileNetV2 (width 1.0, 224x224, 1000 classes), random seeded weights: for latency, not accuracy",
        ),
    )
}
