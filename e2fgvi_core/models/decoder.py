"""Frame decoder: quarter-resolution features back to RGB with two (bilinear x2 + 3x3 conv) upsampling steps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["UpsampleConv", "build_decoder"]


class UpsampleConv(nn.Module):
    """Bilinear x2 upsampling (``align_corners=True``) followed by a 3x3 convolution (official name: ``deconv``)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


def build_decoder(channels: int = 128) -> nn.Sequential:
    """(n, channels, h/4, w/4) -> (n, 3, h, w) before tanh; indices match ``decoder.{0,2,4,6}`` checkpoint keys."""
    return nn.Sequential(
        UpsampleConv(channels, 128),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(128, 64, kernel_size=3, stride=1, padding=1),
        nn.LeakyReLU(0.2, inplace=True),
        UpsampleConv(64, 64),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(64, 3, kernel_size=3, stride=1, padding=1),
    )
