"""MXNet 1.9.1 Gluon, hybridized (its static graph), in MXNet's own venv (numpy 1.23.5).

Gluon uses PyTorch's layouts (NCHW activations, OIHW kernels, (out, in) dense weights, channels-first flatten), so
the initial weights go in unchanged. MXNet's engine is asynchronous: each step waits for its results (nd.waitall),
as PyTorch and Keras' fit do, so a step's time is its real duration. Both zoo models have a Gluon definition here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _digits_cnn(num_classes: int = 10, width: int = 16):
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(nn.Conv2D(width, 3, padding=1, in_channels=1), nn.Activation("relu"),
            nn.Conv2D(2 * width, 3, padding=1, in_channels=width), nn.Activation("relu"),
            nn.MaxPool2D(2), nn.Flatten(), nn.Dense(64, in_units=2 * width * 16), nn.Activation("relu"),
            nn.Dense(num_classes, in_units=64))
    return net


# (expansion t, channels c, repeats n, first stride s): the plan of edgepick.zoo.mobilenet (the paper's Table 2).
_PLAN = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _conv_bn(cin, cout, kernel, stride, groups=1, act=True):
    from mxnet.gluon import nn

    seq = nn.HybridSequential()
    seq.add(nn.Conv2D(cout, kernel, stride, kernel // 2, groups=groups, use_bias=False, in_channels=cin),
            nn.BatchNorm(momentum=0.9, epsilon=1e-5, in_channels=cout))
    if act:
        seq.add(nn.HybridLambda(lambda F, x: F.clip(x, 0, 6)))  # ReLU6
    return seq


def _inverted_residual(cin, cout, stride, expand):
    from mxnet.gluon import nn

    hidden = cin * expand

    class InvertedResidual(nn.HybridBlock):
        def __init__(self):
            super().__init__()
            self.block = nn.HybridSequential()
            if expand != 1:
                self.block.add(_conv_bn(cin, hidden, 1, 1))
            self.block.add(_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, cout, 1, 1, act=False))
            self.residual = stride == 1 and cin == cout

        def hybrid_forward(self, F, x):
            return x + self.block(x) if self.residual else self.block(x)

    return InvertedResidual()


def _mobilenet_v2_like(num_classes: int = 1000):
    from mxnet.gluon import nn

    net = nn.HybridSequential()
    net.add(_conv_bn(3, 32, 3, 2))
    cin = 32
    for t, c, n, s in _PLAN:
        for i in range(n):
            net.add(_inverted_residual(cin, c, s if i == 0 else 1, t))
            cin = c
    net.add(_conv_bn(cin, 1280, 1, 1), nn.GlobalAvgPool2D(), nn.Flatten(), nn.Dropout(0.2),
            nn.Dense(num_classes, in_units=1280))
    return net


def _weight_blocks(block) -> list[tuple[str, object]]:
    from mxnet.gluon import nn

    out = []
    for child in block._children.values():
        if isinstance(child, nn.Conv2D):
            out.append(("dwconv" if child._kwargs.get("num_group", 1) > 1 else "conv", child))
        elif isinstance(child, nn.BatchNorm):
            out.append(("bn", child))
        elif isinstance(child, nn.Dense):
            out.append(("dense", child))
        else:
            out.extend(_weight_blocks(child))
    return out


_NAMES = {"conv": {"weight": "weight", "bias": "bias"}, "dwconv": {"weight": "weight"}, "dense": {"weight": "weight", "bias": "bias"},
          "bn": {"weight": "gamma", "bias": "beta", "running_mean": "running_mean", "running_var": "running_var"}}


def load_into_gluon(net, state: dict[str, np.ndarray]) -> None:
    import mxnet as mx

    blocks = _weight_blocks(net)
    depth = len({k[:3] for k in state})
    if len(blocks) != depth:
        raise ValueError(f"Gluon model has {len(blocks)} weight layers, the initial weights {depth}")
    for i, (kind, block) in enumerate(blocks):
        for key, value in state.items():
            if not key.startswith(f"{i:03d}."):
                continue
            _, src_kind, param = key.split(".")
            if src_kind != kind:
                raise ValueError(f"layer {i}: Gluon has {kind}, the weights have {key}")
            getattr(block, _NAMES[kind][param]).set_data(mx.nd.array(value))


class MxnetTrainer:
    def __init__(self, options: dict):
        self.net = self.trainer = None

    def import_framework(self, threads: int) -> str:
        import mxnet as mx

        return f"mxnet {mx.__version__}, numpy {np.__version__}"

    def make_loader(self, x, y, batch: int, seed: int, workers: int):
        from mxnet import gluon

        np.random.seed(seed)  # Gluon's RandomSampler shuffles with NumPy's global generator
        dataset = gluon.data.ArrayDataset(x, y.astype(np.float32))
        return gluon.data.DataLoader(dataset, batch_size=batch, shuffle=True, last_batch="discard", num_workers=workers)

    def iterate(self, loader):
        return iter(loader)

    def build(self, job: dict, state: dict) -> None:
        import mxnet as mx

        self.job = job
        self.net = _digits_cnn() if job["model"] == "digits-cnn" else _mobilenet_v2_like()
        self.net.initialize(mx.init.Zero(), ctx=mx.cpu())
        load_into_gluon(self.net, state)
        self.net.hybridize(static_alloc=True, static_shape=True)

    def forward(self, x: np.ndarray) -> np.ndarray:
        import mxnet as mx

        return self.net(mx.nd.array(x)).asnumpy()

    def reset(self, state: dict, total_steps: int) -> None:
        import mxnet as mx
        from mxnet import gluon

        load_into_gluon(self.net, state)
        hp = self.job["hyperparameters"]
        opt = hp["optimizer"]
        params = ({"learning_rate": hp["lr"], "beta1": opt["beta_1"], "beta2": opt["beta_2"], "epsilon": opt["epsilon"]}
                  if opt["name"] == "adam" else {"learning_rate": hp["lr"], "momentum": opt["momentum"]})
        if hp["schedule"] == "cosine":
            params["lr_scheduler"] = mx.lr_scheduler.CosineScheduler(max_update=total_steps, base_lr=hp["lr"], final_lr=0)
        self.trainer = gluon.Trainer(self.net.collect_params(), opt["name"], params)

    def fit(self, loader, epochs: int, clock) -> None:
        import mxnet as mx
        from mxnet import autograd, gluon

        loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
        clock.start()
        for _ in range(epochs):
            for xb, yb in loader:
                # Loader workers hand batches over in shared memory (cpu_shared); the cached graph wants cpu.
                xb, yb = xb.as_in_context(mx.cpu()), yb.as_in_context(mx.cpu())
                with autograd.record():
                    loss = loss_fn(self.net(xb), yb)
                loss.backward()
                self.trainer.step(xb.shape[0])  # Gluon sums the per-sample losses' gradients: divide by the batch
                mx.nd.waitall()
                clock.step_end()
            clock.epoch_end()

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float((self.forward(x).argmax(1) == y).mean())

    def save(self, out_dir: Path) -> dict:
        """MXNet's deployable format is the hybridized graph as symbol JSON + params; MXNet's own exporter
        (mx.onnx.export_model) turns that into ONNX, the way an MXNet model reaches other runtimes."""
        import mxnet as mx

        prefix = out_dir / self.job.get("save_stem", "model")
        self.net.export(str(prefix))
        symbol, params = str(prefix) + "-symbol.json", str(prefix) + "-0000.params"
        onnx_path = str(prefix) + ".onnx"
        c, h, w = self.job["input_chw"]
        try:
            mx.onnx.export_model(symbol, params, [(1, c, h, w)], [np.float32], onnx_path, dynamic=True,
                                 dynamic_input_shapes=[(None, c, h, w)])
        except Exception as e:  # the native files stand; the row says why ONNX did not come out
            return {"format": "mxnet-symbol", "path": symbol, "onnx_error": f"{type(e).__name__}: {str(e)[:200]}"}
        return {"format": "onnx", "path": onnx_path, "native": symbol, "via": f"mx.onnx.export_model (mxnet {mx.__version__})"}
