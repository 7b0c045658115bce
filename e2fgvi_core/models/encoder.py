"""Frame encoder: a strided CNN to quarter resolution whose last four convolutions are grouped and re-fed the
256-channel mid-level feature, interleaved group by group (the layout the trained grouped convolutions expect)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Encoder"]

# (in, out, stride, groups) of the nine convolutions; convolutions 5..8 see [x0, previous] interleaved in `groups`
_CONVS = (
    (3, 64, 2, 1),
    (64, 64, 1, 1),
    (64, 128, 2, 1),
    (128, 256, 1, 1),
    (256, 384, 1, 1),
    (640, 512, 1, 2),
    (768, 384, 1, 4),
    (640, 256, 1, 8),
    (512, 128, 1, 1),
)
_REINJECT_FROM = 5  # index (in _CONVS) of the first convolution fed the interleaved [x0, out]


class Encoder(nn.Module):
    """(n, 3, h, w) masked frames in [-1, 1] -> (n, 128, h/4, w/4) features.

    ``layers`` alternates Conv2d and LeakyReLU(0.2) so the parameter names match the checkpoints
    (``encoder.layers.{0,2,...,16}``).
    """

    def __init__(self):
        super().__init__()
        layers = []
        for c_in, c_out, stride, groups in _CONVS:
            layers.append(nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, groups=groups))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        x0 = None
        for conv_index, (c_in, c_out, stride, groups) in enumerate(_CONVS):
            if conv_index == _REINJECT_FROM - 1:
                x0 = out
            if conv_index >= _REINJECT_FROM:
                n, _, h, w = out.shape
                out = torch.cat([x0.view(n, groups, -1, h, w), out.view(n, groups, -1, h, w)], dim=2)
                out = out.view(n, -1, h, w)
            out = self.layers[2 * conv_index + 1](self.layers[2 * conv_index](out))
        return out
