"""T-PatchGAN discriminator (Chang et al., 2019) as used to train E2FGVI: 3D convolutions over (time, height, width)
with spectral normalisation, scoring overlapping spatio-temporal patches. Only needed for training."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Discriminator"]


class Discriminator(nn.Module):
    """(b, t, c, h, w) frames -> (b, t, 128, ~h/64, ~w/64) patch scores (logits unless ``use_sigmoid``).

    ``torch.nn.utils.spectral_norm`` stores ``weight_orig`` (parameter) and ``weight_u``/``weight_v`` (buffers),
    the official key layout of ``conv.{0,2,4,6,8}``; the last conv ``conv.10`` is plain.
    """

    def __init__(self, in_channels: int = 3, use_sigmoid: bool = False, use_spectral_norm: bool = True, nf: int = 32):
        super().__init__()
        self.use_sigmoid = use_sigmoid
        widths = (in_channels, nf, nf * 2, nf * 4, nf * 4, nf * 4)
        layers: list[nn.Module] = []
        for i in range(len(widths) - 1):
            conv = nn.Conv3d(
                widths[i],
                widths[i + 1],
                kernel_size=(3, 5, 5),
                stride=(1, 2, 2),
                padding=1 if i == 0 else (1, 2, 2),
                bias=not use_spectral_norm,
            )
            layers += [nn.utils.spectral_norm(conv) if use_spectral_norm else conv, nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv3d(nf * 4, nf * 4, kernel_size=(3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2)))
        self.conv = nn.Sequential(*layers)

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        feat = self.conv(xs.transpose(1, 2))
        if self.use_sigmoid:
            feat = torch.sigmoid(feat)
        return feat.transpose(1, 2)
