"""The E2FGVI losses: region-normalised L1, hinge, and the flow-completion loss against a frozen SPyNet copy."""

from __future__ import annotations

import pytest
import torch

from e2fgvi_core.models import build_generator
from e2fgvi_core.training.losses import (
    FlowCompletionLoss,
    discriminator_hinge_loss,
    generator_hinge_loss,
    hole_valid_l1,
)


def test_hole_and_valid_l1_are_normalised_by_their_regions():
    target = torch.zeros(1, 2, 3, 8, 8)
    masks = torch.zeros(1, 2, 1, 8, 8)
    masks[..., :2, :] = 1  # a quarter of the pixels
    pred = target + 0.5 * masks - 0.1 * (1 - masks)  # error 0.5 in the hole, 0.1 outside
    hole, valid = hole_valid_l1(pred, target, masks)
    assert hole.item() == pytest.approx(0.5) and valid.item() == pytest.approx(0.1)


def test_hinge_losses():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    # real: relu(1-2)=0, relu(1-0.5)=0.5 -> 0.25; fake: relu(1-3)=0, relu(1+0)=1 -> 0.5; mean of both: 0.375
    assert discriminator_hinge_loss(real, fake).item() == pytest.approx(0.375)
    assert generator_hinge_loss(fake).item() == pytest.approx(1.5)


def test_flow_loss_uses_a_frozen_copy_of_the_initial_spynet():
    torch.manual_seed(0)
    generator = build_generator("test_e2fgvi_hq_tiny").init_weights()
    loss = FlowCompletionLoss(generator)
    frames = torch.rand(1, 3, 3, 24, 36) * 2 - 1
    with torch.no_grad():
        own = generator.complete_flows(frames)  # the generator's flows on unmasked frames = the frozen net's
    assert loss(own, frames).item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        for p in generator.update_spynet.parameters():
            p.add_(0.05)
    assert all(not p.requires_grad for p in loss.flow_net.parameters())
    moved = generator.complete_flows(frames)
    value = loss(moved, frames)
    assert value.item() > 0
    value.backward()
    assert generator.update_spynet.basic_module[0].basic_module[0].conv.weight.grad is not None
    assert all(p.grad is None for p in loss.flow_net.parameters())
    loss.train()
    assert not loss.flow_net.training
