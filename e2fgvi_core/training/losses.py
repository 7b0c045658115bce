"""The E2FGVI training losses, as the paper and the official trainer define them.

- reconstruction: L1 inside the hole and L1 outside it, each normalised by the share of pixels it covers (so the
  two weights balance regions of any size);
- adversarial: hinge loss with the T-PatchGAN discriminator (``models/discriminator.py``) scoring the composited
  clip; the discriminator sees real clips and detached composites;
- flow completion: L1 between the flows the generator's SPyNet estimates on *masked* local frames and the flows of a
  frozen flow network on the *ground-truth* local frames, forward and backward.

The frozen flow network: the official trainer loads a separately pretrained SPyNet. No weights may be downloaded
here, so ours is a frozen copy of the generator's own ``update_spynet`` taken when training starts: from an official
checkpoint (``--init``) that is the trained E2FGVI SPyNet; from scratch it is the randomly initialised one, and the
flow loss then only keeps the masked-frame flows consistent with that fixed network's ground-truth flows.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from e2fgvi_core.models import InpaintGenerator

__all__ = ["FlowCompletionLoss", "discriminator_hinge_loss", "generator_hinge_loss", "hole_valid_l1"]


def hole_valid_l1(pred: torch.Tensor, target: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(hole L1, valid L1) of (b, t, 3, h, w) frames with (b, t, 1, h, w) masks (1 = hole): mean |error| over the
    region divided by the region's mean share of the pixels, as the official trainer computes them."""
    masks = masks.expand_as(pred)
    hole = F.l1_loss(pred * masks, target * masks) / masks.mean().clamp_min(1e-8)
    valid = F.l1_loss(pred * (1 - masks), target * (1 - masks)) / (1 - masks).mean().clamp_min(1e-8)
    return hole, valid


def discriminator_hinge_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the discriminator: mean(relu(1 - real)) and mean(relu(1 + fake)), averaged."""
    return (F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()) / 2


def generator_hinge_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the generator: minus the discriminator's mean score of the composites."""
    return -fake_scores.mean()


class FlowCompletionLoss(nn.Module):
    """L1 between predicted flows and those of a frozen SPyNet on the ground truth (see the module docstring)."""

    def __init__(self, generator: InpaintGenerator):
        super().__init__()
        self.flow_net = copy.deepcopy(generator.update_spynet).eval().requires_grad_(False)
        self._flow_inputs = generator.flow_inputs  # the same quarter-resolution [0, 1] input the generator uses

    def train(self, mode: bool = True) -> FlowCompletionLoss:
        return super().train(False)  # the reference flow network never leaves eval mode

    def forward(self, pred_flows: tuple[torch.Tensor, torch.Tensor], local_frames: torch.Tensor) -> torch.Tensor:
        """``pred_flows``: (forward, backward), each (b, l-1, 2, h/4, w/4); ``local_frames``: ground truth
        (b, l, 3, h, w) in [-1, 1]. Returns L1(forward) + L1(backward)."""
        b, l_t, c, h, w = local_frames.shape
        with torch.no_grad():
            small = self._flow_inputs(local_frames.reshape(b * l_t, c, h, w))
            small = small.view(b, l_t, c, *small.shape[-2:])
            first = small[:, :-1].reshape(-1, c, *small.shape[-2:])
            second = small[:, 1:].reshape(-1, c, *small.shape[-2:])
            target_forward = self.flow_net(first, second)
            target_backward = self.flow_net(second, first)
        forward = pred_flows[0].reshape(target_forward.shape).float()
        backward = pred_flows[1].reshape(target_backward.shape).float()
        return F.l1_loss(forward, target_forward) + F.l1_loss(backward, target_backward)
