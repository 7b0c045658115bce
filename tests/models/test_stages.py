"""The stage API composes exactly to forward, and the generator behaves on odd inputs and devices."""

from __future__ import annotations

import socket

import pytest
import torch

from e2fgvi_core.models import ModelInputError, build_generator
from e2fgvi_core.models.flow_completion import SPyNet


def test_stages_reproduce_forward_exactly(hq_forward, hq_stages):
    output, (flows_forward, flows_backward) = hq_forward
    assert torch.equal(hq_stages["output"], output)
    assert torch.equal(hq_stages["pred_flows_forward"], flows_forward)
    assert torch.equal(hq_stages["pred_flows_backward"], flows_backward)


def test_hallucinate_is_the_transformer_residual(hq_model, hq_stages):
    prop = hq_stages["feat_prop_out"]
    enc = hq_stages["enc_feat"].view(1, 8, *hq_stages["enc_feat"].shape[1:])
    feat = torch.cat([prop, enc[:, prop.shape[1] :]], dim=1)
    with torch.inference_mode():
        residual = hq_model.hallucinate(feat)
    assert torch.equal(residual.view(-1, *residual.shape[2:]), hq_stages["softcomp_out"])


def test_per_pair_flows_equal_batched_flows(hq_model, hq_case, hq_stages):
    """What the engine caches (one flow per adjacent pair) equals what complete_flows computes for the window."""
    frames = torch.from_numpy(hq_case["masked_frames"][0, :3])
    with torch.inference_mode():
        small = hq_model.flow_inputs(frames)
        pair = hq_model.estimate_flows(small[1:2], small[2:3])
    assert (pair[0] - hq_stages["pred_flows_forward"][0, 1]).abs().max() <= 1e-5


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_generator("test_e2fgvi_hq").eval()


def test_tiny_variant_any_valid_size_and_single_local_frame(tiny):
    frames = torch.rand(2, 3, 3, 60, 216) * 2 - 1
    with torch.inference_mode():
        out, (ff, fb) = tiny(frames, 1)
    assert out.shape == (6, 3, 60, 216) and ff.shape == (2, 0, 2, 15, 54) and fb.shape == ff.shape
    assert out.abs().max() <= 1.0


def test_batch_items_are_independent(tiny):
    frames = torch.rand(2, 4, 3, 60, 108) * 2 - 1
    with torch.inference_mode():
        both, _ = tiny(frames, 3)
        first, _ = tiny(frames[:1], 3)
    assert (both[:4] - first).abs().max() <= 1e-5


def test_bad_sizes_are_clear_errors(tiny):
    with pytest.raises(ModelInputError, match="70x108.*multiples of 60x108"):
        tiny(torch.zeros(1, 2, 3, 70, 108), 2)
    with pytest.raises(ModelInputError, match=r"\(b, t, 3, h, w\)"):
        tiny(torch.zeros(2, 3, 60, 108), 2)
    with pytest.raises(ModelInputError, match="num_local_frames=5"):
        tiny(torch.zeros(1, 2, 3, 60, 108), 5)
    fixed = build_generator("test_e2fgvi")
    with pytest.raises(ModelInputError, match="only accepts 120x216"):
        fixed(torch.zeros(1, 2, 3, 60, 108), 2)


def test_fixed_variant_runs_at_its_size():
    torch.manual_seed(0)
    model = build_generator("test_e2fgvi").eval()
    with torch.inference_mode():
        out, _ = model(torch.rand(1, 3, 3, 120, 216) * 2 - 1, 2)
    assert out.shape == (3, 3, 120, 216) and torch.isfinite(out).all()


def test_training_mode_backpropagates(tiny):
    model = build_generator("test_e2fgvi_hq").init_weights()
    out, flows = model(torch.rand(1, 3, 3, 60, 108) * 2 - 1, 2)
    (out.mean() + flows[0].mean()).backward()
    assert model.encoder.layers[0].weight.grad is not None
    assert model.transformer[0].attn.qkv.weight.grad is not None


def test_double_precision_follows_input(tiny):
    """No hard-coded float32/CPU tensors: the model follows the dtype/device of its parameters and inputs."""
    model = build_generator("test_e2fgvi_hq").double().eval()
    with torch.inference_mode():
        out, _ = model(torch.rand(1, 3, 3, 60, 108, dtype=torch.float64) * 2 - 1, 2)
    assert out.dtype == torch.float64


def test_spynet_construction_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access while building SPyNet")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    net = SPyNet()
    assert net.mean.shape == (1, 3, 1, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda(tiny):
    model = build_generator("test_e2fgvi_hq").eval()
    frames = torch.rand(1, 3, 3, 60, 108) * 2 - 1
    with torch.inference_mode():
        cpu_out, _ = model(frames, 2)
        cuda_out, _ = model.cuda()(frames.cuda(), 2)
    assert (cuda_out.cpu() - cpu_out).abs().max() <= 1e-3


def test_hallucinate_checks_feature_size():
    fixed = build_generator("test_e2fgvi")
    with pytest.raises(ModelInputError, match="only accepts 120x216"):
        fixed.hallucinate(torch.zeros(1, 2, 128, 15, 27))
