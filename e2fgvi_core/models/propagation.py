"""Flow-guided feature propagation: second-order deformable alignment inside a bidirectional recurrence.

The idea comes from BasicVSR++: a feature propagated from neighbouring frames is first warped by the completed
flow, then refined by a deformable convolution whose offsets are predicted as residuals on top of that flow
(bounded by ``max_residue_magnitude``). E2FGVI applies it to the encoder features of the local frames.
"""

from __future__ import annotations

import torch
from torch import nn

from e2fgvi_core.models.deform_conv import modulated_deform_conv2d
from e2fgvi_core.models.flow_completion import flow_warp

__all__ = ["BidirectionalPropagation", "SecondOrderDeformableAlignment"]


class SecondOrderDeformableAlignment(nn.Module):
    """Align a (first-order, second-order) feature pair with a flow-guided modulated deformable convolution.

    Parameters ``weight``/``bias`` (the DCN kernel) and ``conv_offset`` keep the checkpoint names of mmcv's
    ``ModulatedDeformConv2d`` subclass that the official model used.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: int = 1,
        deform_groups: int = 16,
        max_residue_magnitude: float = 10.0,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = (kernel_size, kernel_size)
        self.stride = (1, 1)
        self.padding = (padding, padding)
        self.dilation = (1, 1)
        self.groups = 1
        self.deform_groups = deform_groups
        self.max_residue_magnitude = max_residue_magnitude
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels))
        n_points = kernel_size * kernel_size
        self.conv_offset = nn.Sequential(
            nn.Conv2d(3 * out_channels + 4, out_channels, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            nn.Conv2d(out_channels, 3 * n_points * deform_groups, 3, 1, 1),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Training-time initialisation: the offset branch starts at zero so alignment starts as pure flow warp."""
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / fan_in**0.5
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def forward(
        self, x: torch.Tensor, extra_feat: torch.Tensor, flow_1: torch.Tensor, flow_2: torch.Tensor
    ) -> torch.Tensor:
        """``x`` (n, 2c, h, w): [first-order feature, second-order feature]; ``extra_feat`` (n, 3c, h, w): the
        condition; ``flow_1``/``flow_2`` (n, 2, h, w) the first/second-order flows (x, y). Returns (n, c, h, w).
        """
        out = self.conv_offset(torch.cat([extra_feat, flow_1, flow_2], dim=1))
        o1, o2, mask = torch.chunk(out, 3, dim=1)
        offset = self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1))
        offset_1, offset_2 = torch.chunk(offset, 2, dim=1)
        # offsets are (dy, dx) pairs: the flow is (x, y), hence the flip
        repeats = offset_1.shape[1] // 2
        offset_1 = offset_1 + flow_1.flip(1).repeat(1, repeats, 1, 1)
        offset_2 = offset_2 + flow_2.flip(1).repeat(1, repeats, 1, 1)
        offset = torch.cat([offset_1, offset_2], dim=1)
        mask = torch.sigmoid(mask)
        return modulated_deform_conv2d(
            x,
            offset,
            mask,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.deform_groups,
        )


class BidirectionalPropagation(nn.Module):
    """Backward then forward recurrent propagation over the local frames, fused per frame, plus the input.

    ``forward(x, flows_backward_branch, flows_forward_branch)``: ``x`` (b, t, c, h, w); flows (b, t-1, 2, h, w).
    The generator passes the forward flows (i -> i+1) as ``flows_backward_branch`` and the backward flows as
    ``flows_forward_branch``, as the official model does. In the backward branch, the step ``i`` (frame t-1-i)
    reads flow index ``i-1`` (first order) and ``i-2`` (second order) *without* reversing the index together
    with the frames: the trained weights expect exactly this.
    """

    branches = ("backward_", "forward_")

    def __init__(self, channel: int, deform_groups: int = 16, max_residue_magnitude: float = 10.0):
        super().__init__()
        self.channel = channel
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(self.branches):
            self.deform_align[name] = SecondOrderDeformableAlignment(
                2 * channel,
                channel,
                3,
                padding=1,
                deform_groups=deform_groups,
                max_residue_magnitude=max_residue_magnitude,
            )
            self.backbone[name] = nn.Sequential(
                nn.Conv2d((2 + i) * channel, channel, 3, 1, 1),
                nn.LeakyReLU(negative_slope=0.1, inplace=True),
                nn.Conv2d(channel, channel, 3, 1, 1),
            )
        self.fusion = nn.Conv2d(2 * channel, channel, 1, 1, 0)

    def _propagate_branch(
        self, name: str, frames: list[torch.Tensor], flows: torch.Tensor, backward_feats: list[torch.Tensor] | None
    ) -> list[torch.Tensor]:
        """Run one recurrent branch; returns the propagated features in frame order."""
        t = len(frames)
        order = range(t - 1, -1, -1) if name == "backward_" else range(t)
        align = self.deform_align[name]
        backbone = self.backbone[name]
        outputs: list[torch.Tensor] = []
        feat_prop = frames[0].new_zeros(frames[0].shape[0], self.channel, *frames[0].shape[-2:])
        for step, idx in enumerate(order):
            feat_current = frames[idx]
            if step > 0:
                flow_n1 = flows[:, step - 1]
                cond_n1 = flow_warp(feat_prop, flow_n1)
                if step > 1:
                    feat_n2 = outputs[-2]
                    flow_n2 = flow_n1 + flow_warp(flows[:, step - 2], flow_n1)
                    cond_n2 = flow_warp(feat_n2, flow_n2)
                else:
                    feat_n2 = torch.zeros_like(feat_prop)
                    flow_n2 = torch.zeros_like(flow_n1)
                    cond_n2 = torch.zeros_like(cond_n1)
                cond = torch.cat([cond_n1, feat_current, cond_n2], dim=1)
                feat_prop = align(torch.cat([feat_prop, feat_n2], dim=1), cond, flow_n1, flow_n2)
            parts = [feat_current] + ([backward_feats[idx]] if backward_feats is not None else []) + [feat_prop]
            feat_prop = feat_prop + backbone(torch.cat(parts, dim=1))
            outputs.append(feat_prop)
        if name == "backward_":
            outputs.reverse()
        return outputs

    def forward(
        self, x: torch.Tensor, flows_backward_branch: torch.Tensor, flows_forward_branch: torch.Tensor
    ) -> torch.Tensor:
        t = x.shape[1]
        frames = [x[:, i] for i in range(t)]
        backward_feats = self._propagate_branch("backward_", frames, flows_backward_branch, None)
        forward_feats = self._propagate_branch("forward_", frames, flows_forward_branch, backward_feats)
        fused = [self.fusion(torch.cat([backward_feats[i], forward_feats[i]], dim=1)) for i in range(t)]
        return torch.stack(fused, dim=1) + x
