"""Soft split and soft composition: overlapping patches <-> transformer tokens (FuseFormer / T2T style).

Patches of 7x7 with stride 3 overlap, so neighbouring tokens share pixels; composition folds the patches back and
*sums* the overlaps (no normalisation), which the trained weights expect.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SoftComp", "SoftSplit", "token_grid_size"]


def token_grid_size(feat_size: tuple[int, int], kernel_size, stride, padding) -> tuple[int, int]:
    """Token grid (f_h, f_w) produced by unfolding a feature map of ``feat_size`` (e.g. 30x54 -> 10x18)."""
    return tuple((n + 2 * p - (k - 1) - 1) // s + 1 for n, k, s, p in zip(feat_size, kernel_size, stride, padding))


class SoftSplit(nn.Module):
    """Feature map (b*t, c, h, w) -> tokens (b, t, f_h, f_w, hidden) via unfold + linear embedding."""

    def __init__(self, channel: int, hidden: int, kernel_size, stride, padding):
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)
        self.padding = tuple(padding)
        self.embedding = nn.Linear(channel * self.kernel_size[0] * self.kernel_size[1], hidden)

    def forward(self, x: torch.Tensor, b: int, output_size: tuple[int, int]) -> torch.Tensor:
        f_h, f_w = token_grid_size(output_size, self.kernel_size, self.stride, self.padding)
        feat = F.unfold(x, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)
        feat = self.embedding(feat.permute(0, 2, 1))
        return feat.view(b, -1, f_h, f_w, feat.shape[-1])


class SoftComp(nn.Module):
    """Tokens (b, t, f_h, f_w, hidden) -> feature map (b*t, c, h, w): linear, fold (overlaps summed), bias.

    ``bias="conv"`` (HQ model) adds a 3x3 ``bias_conv`` of the folded map, which works at any size;
    ``bias="learned"`` (original model) adds a learned positional map ``bias`` of fixed size ``fixed_size``.
    """

    def __init__(
        self,
        channel: int,
        hidden: int,
        kernel_size,
        stride,
        padding,
        bias: str = "conv",
        fixed_size: tuple[int, int] | None = None,
    ):
        super().__init__()
        self.kernel_size = tuple(kernel_size)
        self.stride = tuple(stride)
        self.padding = tuple(padding)
        self.bias_mode = bias
        if bias == "learned":
            if fixed_size is None:
                raise ValueError("SoftComp(bias='learned') needs fixed_size")
            self.bias = nn.Parameter(torch.zeros(channel, *fixed_size))
        self.embedding = nn.Linear(hidden, channel * self.kernel_size[0] * self.kernel_size[1])
        if bias == "conv":
            self.bias_conv = nn.Conv2d(channel, channel, kernel_size=3, stride=1, padding=1)

    def forward(self, x: torch.Tensor, t: int, output_size: tuple[int, int]) -> torch.Tensor:
        b = x.shape[0]
        feat = self.embedding(x.reshape(b, -1, x.shape[-1]))
        feat = feat.view(b * t, -1, feat.shape[-1]).permute(0, 2, 1)
        feat = F.fold(
            feat, output_size=output_size, kernel_size=self.kernel_size, stride=self.stride, padding=self.padding
        )
        if self.bias_mode == "conv":
            return self.bias_conv(feat)
        return feat + self.bias[None]
