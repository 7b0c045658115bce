"""Flow completion: SPyNet optical flow on quarter-resolution masked frames, and flow warping.

E2FGVI estimates flows directly between *masked* frames with a SPyNet fine-tuned end to end ("update_spynet" in
the checkpoints), so the flows inside holes are completed by the network itself. Constructing ``SPyNet`` never
loads or downloads anything: its weights come with the generator checkpoint.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SPyNet", "SPyNetBasicModule", "flow_warp"]

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def flow_warp(x: torch.Tensor, flow: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Warp ``x`` (n, c, h, w) by ``flow`` (n, 2, h, w), channel 0 = x, 1 = y displacement in pixels.

    Bilinear, ``align_corners=True`` sampling at ``pixel + flow``; ``padding_mode`` is ``zeros`` for features and
    ``border`` inside SPyNet, as the trained weights expect.
    """
    _n, _, h, w = x.shape
    if flow.shape[-2:] != (h, w):
        raise ValueError(f"flow size {tuple(flow.shape[-2:])} differs from the warped tensor's {(h, w)}")
    # Sampling positions stay in float32 under reduced precision: a bfloat16 position near x = 400 is off by a pixel.
    flow = flow.to(torch.promote_types(flow.dtype, torch.float32))
    x = x.to(flow.dtype)
    grid_y = torch.arange(h, device=flow.device, dtype=flow.dtype).view(1, h, 1)
    grid_x = torch.arange(w, device=flow.device, dtype=flow.dtype).view(1, 1, w)
    pos_x = grid_x + flow[:, 0]
    pos_y = grid_y + flow[:, 1]
    grid = torch.stack((2.0 * pos_x / max(w - 1, 1) - 1.0, 2.0 * pos_y / max(h - 1, 1) - 1.0), dim=3)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)


class _ConvReLU(nn.Module):
    """A 7x7 convolution with an optional ReLU (the ``conv`` attribute name is a checkpoint key)."""

    def __init__(self, in_channels: int, out_channels: int, relu: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=7, stride=1, padding=3)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return F.relu(x) if self.relu else x


class SPyNetBasicModule(nn.Module):
    """One pyramid level: (reference, warped support, upsampled flow) -> flow residual."""

    def __init__(self):
        super().__init__()
        widths = (8, 32, 64, 32, 16, 2)
        self.basic_module = nn.Sequential(
            *[_ConvReLU(widths[i], widths[i + 1], relu=i < len(widths) - 2) for i in range(len(widths) - 1)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(x)


class SPyNet(nn.Module):
    """Spatial-pyramid optical flow (Ranjan & Black, CVPR 2017), six levels, no batch norm.

    ``forward(ref, supp)`` takes (n, 3, h, w) images in [0, 1] and returns the flow ref -> supp, (n, 2, h, w).
    """

    num_levels = 6

    def __init__(self):
        super().__init__()
        self.basic_module = nn.ModuleList([SPyNetBasicModule() for _ in range(self.num_levels)])
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1))

    def compute_flow(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        """Flow ref -> supp for images whose size is a multiple of 32."""
        n, _, h, w = ref.shape
        refs = [(ref - self.mean) / self.std]
        supps = [(supp - self.mean) / self.std]
        for _ in range(self.num_levels - 1):
            refs.append(F.avg_pool2d(refs[-1], kernel_size=2, stride=2, count_include_pad=False))
            supps.append(F.avg_pool2d(supps[-1], kernel_size=2, stride=2, count_include_pad=False))
        refs.reverse()
        supps.reverse()

        flow = refs[0].new_zeros(n, 2, h // 32, w // 32)
        for level, (ref_l, supp_l) in enumerate(zip(refs, supps)):
            if level == 0:
                flow_up = flow
            else:
                flow_up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            warped = flow_warp(supp_l, flow_up, padding_mode="border")
            flow = flow_up + self.basic_module[level](torch.cat([ref_l, warped, flow_up], dim=1))
        return flow

    def forward(self, ref: torch.Tensor, supp: torch.Tensor) -> torch.Tensor:
        h, w = ref.shape[-2:]
        h_up = h if h % 32 == 0 else 32 * (h // 32 + 1)
        w_up = w if w % 32 == 0 else 32 * (w // 32 + 1)
        ref = F.interpolate(ref, size=(h_up, w_up), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(h_up, w_up), mode="bilinear", align_corners=False)
        flow = F.interpolate(self.compute_flow(ref, supp), size=(h, w), mode="bilinear", align_corners=False)
        scale = torch.tensor([float(w) / float(w_up), float(h) / float(h_up)], dtype=flow.dtype, device=flow.device)
        return flow * scale.view(1, 2, 1, 1)
