"""One set of initial weights, copied into every framework, and the check that the copies compute the same thing.

The canonical form is PyTorch's layout, layer by layer in execution order, in a plain .npz (no pickle): key
"NNN.kind.param" with kind conv | dwconv | bn | dense. Each framework walks its own model in the same order and
converts:
- convolution kernels: PyTorch OIHW -> Keras HWIO (transpose 2,3,1,0); depthwise (C,1,kh,kw) -> Keras (kh,kw,C,1);
- dense kernels: PyTorch (out, in) -> Keras (in, out);
- the first dense layer after flattening a C x H x W feature map: PyTorch flattens channels-first (c, h, w), Keras
  channels-last (h, w, c), so its input rows are permuted; forgetting this is the classic silent porting bug
  (`broken=True` reproduces it, and the forward check catches it);
- batch norm: weight/bias/running_mean/running_var -> gamma/beta/moving_mean/moving_variance (same for MXNet).
MXNet Gluon uses PyTorch's layout (NCHW, OIHW, (out, in)) and flattens channels-first, so it takes them unchanged.
"""

from __future__ import annotations

import numpy as np

KINDS = ("conv", "dwconv", "bn", "dense")
_BN = ("weight", "bias", "running_mean", "running_var")


def torch_model(name: str, seed: int):
    """The zoo architecture in PyTorch with seeded (untrained) initial weights."""
    import torch

    torch.manual_seed(seed)
    if name == "digits-cnn":
        from edgepick.zoo.digits import architecture

        return architecture()
    from edgepick.zoo.mobilenet import build

    model = build(num_classes=num_classes(name), seed=seed)
    return model.train()


def num_classes(name: str) -> int:
    return 10 if name == "digits-cnn" else 1000


def flatten_chw(name: str, input_chw) -> tuple[int, int, int] | None:
    """The feature map flattened before the first dense layer, where PyTorch's and Keras' orders differ."""
    if name == "digits-cnn":
        _, h, w = input_chw
        return (32, h // 2, w // 2)
    return None  # mobilenetv2-like flattens after global pooling: 1x1, the orders agree


def _torch_layers(model) -> list[tuple[str, object]]:
    import torch.nn as nn

    out = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            out.append(("dwconv" if m.groups > 1 else "conv", m))
        elif isinstance(m, nn.BatchNorm2d):
            out.append(("bn", m))
        elif isinstance(m, nn.Linear):
            out.append(("dense", m))
    return out


def export_torch(model) -> dict[str, np.ndarray]:
    state: dict[str, np.ndarray] = {}
    for i, (kind, m) in enumerate(_torch_layers(model)):
        names = _BN if kind == "bn" else ("weight", "bias")
        for p in names:
            t = getattr(m, p, None)
            if t is not None:
                state[f"{i:03d}.{kind}.{p}"] = t.detach().cpu().numpy().astype(np.float32).copy()
    return state


def load_into_torch(model, state: dict[str, np.ndarray]) -> None:
    import torch

    layers = _torch_layers(model)
    _require_same_depth(len(layers), state, "PyTorch")
    with torch.no_grad():
        for i, (kind, m) in enumerate(layers):
            for key, value in _params_of(state, i).items():
                if kind != key.split(".")[1]:
                    raise ValueError(f"layer {i}: PyTorch has {kind}, the weights have {key}")
                target = getattr(m, key.split(".")[2])
                target.copy_(torch.from_numpy(value).reshape(target.shape))


def _params_of(state: dict, i: int) -> dict[str, np.ndarray]:
    return {k: v for k, v in state.items() if k.startswith(f"{i:03d}.")}


def _require_same_depth(n: int, state: dict, where: str) -> None:
    depth = len({k[:3] for k in state})
    if n != depth:
        raise ValueError(f"{where} model has {n} weight layers, the initial weights {depth}")


def keras_layers(model) -> list[tuple[str, object]]:
    from keras import layers

    out = []
    for layer in model.layers:  # a functional model's layers, in topological (= execution) order
        if isinstance(layer, layers.DepthwiseConv2D):
            out.append(("dwconv", layer))
        elif isinstance(layer, layers.Conv2D):
            out.append(("conv", layer))
        elif isinstance(layer, layers.BatchNormalization):
            out.append(("bn", layer))
        elif isinstance(layer, layers.Dense):
            out.append(("dense", layer))
    return out


def to_keras(kind: str, params: dict[str, np.ndarray], flatten: tuple[int, int, int] | None, broken: bool) -> list:
    """One layer's weights in Keras' layout, in the order layer.set_weights expects."""
    get = {k.split(".")[2]: v for k, v in params.items()}
    if kind == "bn":
        return [get[p] for p in _BN]
    if kind == "conv":
        return [get["weight"].transpose(2, 3, 1, 0)] + ([get["bias"]] if "bias" in get else [])
    if kind == "dwconv":
        return [get["weight"].transpose(2, 3, 0, 1)] + ([get["bias"]] if "bias" in get else [])
    w = get["weight"]  # (out, in)
    if flatten is not None and not broken:
        c, h, wd = flatten
        w = w.reshape(w.shape[0], c, h, wd).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    return [np.ascontiguousarray(w.T), get["bias"]]


def load_into_keras(model, state: dict[str, np.ndarray], flatten=None, broken: bool = False) -> None:
    layers = keras_layers(model)
    _require_same_depth(len(layers), state, "Keras")
    first_dense = True
    for i, (kind, layer) in enumerate(layers):
        params = _params_of(state, i)
        if any(k.split(".")[1] != kind for k in params):
            raise ValueError(f"layer {i}: Keras has {kind}, the weights have {sorted(params)}")
        weights = to_keras(kind, params, flatten if kind == "dense" and first_dense else None, broken)
        if kind == "dense":
            first_dense = False
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [w.shape for w in weights] != expected:
            raise ValueError(f"layer {i} ({layer.name}): shapes {[w.shape for w in weights]} != Keras' {expected}")
        layer.set_weights(weights)


def save(state: dict[str, np.ndarray], path) -> None:
    np.savez(path, **state)


def load(path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}
