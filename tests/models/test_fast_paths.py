"""The optimised paths equal their plain counterparts: chunking over windows is exact, fused ~ reference."""

from __future__ import annotations

import pytest
import torch

from e2fgvi_core.models import build_generator, focal_transformer
from e2fgvi_core.models.focal_transformer import TemporalFocalTransformerBlock


@pytest.fixture(scope="module")
def block_and_tokens():
    torch.manual_seed(0)
    block = TemporalFocalTransformerBlock(64, 2, (5, 9), 98, (7, 7), (3, 3), (3, 3)).eval()
    for p in block.parameters():  # away from the training init, so pooling and biases matter
        p.data.normal_(0, 0.2)
    tokens = torch.randn(2, 3, 10, 18, 64)  # 2 x 2 windows per frame: border windows have padded pooled keys
    return block, tokens


def test_window_chunking_does_not_change_the_result(block_and_tokens, monkeypatch):
    block, tokens = block_and_tokens
    per_window = 2 * 2 * (3 * 210) * 64 * 4  # gathered keys and values of one window, float32
    with torch.inference_mode():
        assert block.attn.windows_per_chunk(2, 3 * 210, 64) >= 4  # the default budget: the 4 windows at once
        all_at_once = block(tokens, (30, 54))
        monkeypatch.setattr(focal_transformer, "GATHER_BUDGET_BYTES", 1)  # one window per chunk
        assert block.attn.windows_per_chunk(2, 3 * 210, 64) == 1
        one_by_one = block(tokens, (30, 54))
        monkeypatch.setattr(focal_transformer, "GATHER_BUDGET_BYTES", 3 * per_window)  # chunks of 3 and 1
        assert block.attn.windows_per_chunk(2, 3 * 210, 64) == 3
        uneven = block(tokens, (30, 54))
    assert torch.equal(all_at_once, one_by_one)
    assert torch.equal(all_at_once, uneven)


def test_fused_attention_equals_reference_within_arithmetic_order(block_and_tokens):
    block, tokens = block_and_tokens
    with torch.inference_mode():
        fused = block(tokens, (30, 54))
        block.attn.impl = "reference"
        try:
            reference = block(tokens, (30, 54))
        finally:
            block.attn.impl = "fused"
    assert fused.shape == reference.shape == tokens.shape
    difference = (fused - reference).abs().max().item()
    assert difference <= 1e-5
    # and both differ from the input: the block did something (a broken gather would also be "equal" to itself)
    assert (fused - tokens).abs().max().item() > 1e-2


def test_fused_attention_in_float64_matches_reference_to_rounding(block_and_tokens):
    """In float64 the two formulations agree to ~1e-12: any larger gap would be a wrong key, bias or order."""
    block, tokens = block_and_tokens
    block64 = TemporalFocalTransformerBlock(64, 2, (5, 9), 98, (7, 7), (3, 3), (3, 3)).double().eval()
    block64.load_state_dict(block.state_dict())
    x = tokens.double()
    with torch.inference_mode():
        fused = block64(x, (30, 54))
        block64.attn.impl = "reference"
        reference = block64(x, (30, 54))
    assert (fused - reference).abs().max().item() <= 1e-10


def test_bf16_autocast_forward_stays_close_to_fp32():
    """bf16 runs the whole generator (sampling positions stay float32) and lands near the fp32 output."""
    torch.manual_seed(0)
    model = build_generator("test_e2fgvi_hq").eval()
    frames = torch.rand(1, 3, 3, 60, 108) * 2 - 1
    with torch.inference_mode():
        fp32, _ = model(frames, 2)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16, _ = model(frames, 2)
    assert bf16.dtype == torch.bfloat16 and torch.isfinite(bf16.float()).all()
    assert (bf16.float() - fp32).abs().max().item() <= 0.05
