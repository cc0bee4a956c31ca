"""mobilenetv2-like: MobileNetV2's layer plan (Sandler et al. 2018), written without torchvision; random weights."""

from __future__ import annotations

# (expansion t, channels c, repeats n, first stride s), from the paper's Table 2.
_PLAN = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _conv_bn(cin, cout, kernel, stride, groups=1, act=True):
    import torch.nn as nn

    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def _inverted_residual(cin, cout, stride, expand):
    import torch.nn as nn

    hidden = cin * expand

    class InvertedResidual(nn.Module):
        def __init__(self):
            super().__init__()
            layers = [_conv_bn(cin, hidden, 1, 1)] if expand != 1 else []
            layers += [_conv_bn(hidden, hidden, 3, stride, groups=hidden), _conv_bn(hidden, cout, 1, 1, act=False)]
            self.block = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.block(x) if self.residual else self.block(x)

    return InvertedResidual()


def build(num_classes: int = 1000, seed: int = 0):
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    layers = [_conv_bn(3, 32, 3, 2)]
    cin = 32
    for t, c, n, s in _PLAN:
        for i in range(n):
            layers.append(_inverted_residual(cin, c, s if i == 0 else 1, t))
            cin = c
    layers += [_conv_bn(cin, 1280, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, num_classes)]
    model = nn.Sequential(*layers)
    # Non-trivial BatchNorm statistics, so the folded graph computes something a converter could get wrong.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()
