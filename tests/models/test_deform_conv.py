"""Modulated deformable convolution: the pure-PyTorch backend against an explicit float64 per-element reference,
backend agreement, and the E2FGVI_DEFORM_BACKEND switch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.models.deform_conv import (
    BACKENDS,
    DeformConvConfig,
    available_backends,
    modulated_deform_conv2d,
    resolve_backend,
)


def reference_dcn(x, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups):
    """Slow, obviously-correct mmcv DCNv2 in float64: one bilinear sample per (output pixel, channel, tap)."""
    x, offset, mask, weight = (np.asarray(a, dtype=np.float64) for a in (x, offset, mask, weight))
    n, c_in, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    _, _, ho, wo = offset.shape
    channels_per_dg = c_in // deform_groups
    out = np.zeros((n, c_out, ho, wo))

    def pixel(b, c, y, xx):
        return x[b, c, y, xx] if 0 <= y < h and 0 <= xx < w else 0.0

    def bilinear(b, c, py, px):
        if py <= -1 or py >= h or px <= -1 or px >= w:
            return 0.0
        y0, x0 = math.floor(py), math.floor(px)
        ly, lx = py - y0, px - x0
        return (
            (1 - ly) * (1 - lx) * pixel(b, c, y0, x0)
            + (1 - ly) * lx * pixel(b, c, y0, x0 + 1)
            + ly * (1 - lx) * pixel(b, c, y0 + 1, x0)
            + ly * lx * pixel(b, c, y0 + 1, x0 + 1)
        )

    for b in range(n):
        for oy in range(ho):
            for ox in range(wo):
                for c in range(c_in):
                    g = c // channels_per_dg
                    for i in range(kh):
                        for j in range(kw):
                            k = i * kw + j
                            dy = offset[b, g * 2 * kh * kw + 2 * k, oy, ox]
                            dx = offset[b, g * 2 * kh * kw + 2 * k + 1, oy, ox]
                            m = mask[b, g * kh * kw + k, oy, ox]
                            py = oy * stride - padding + i * dilation + dy
                            px = ox * stride - padding + j * dilation + dx
                            value = bilinear(b, c, py, px) * m
                            group = c // c_per_group
                            cg = c % c_per_group
                            for o in range(group * (c_out // groups), (group + 1) * (c_out // groups)):
                                out[b, o, oy, ox] += weight[o, cg, i, j] * value
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return out


def make_inputs(seed, n=2, c_in=4, h=5, w=6, c_out=3, groups=1, deform_groups=2, stride=1, padding=1, dilation=1):
    gen = torch.Generator().manual_seed(seed)
    ho = (h + 2 * padding - dilation * 2 - 1) // stride + 1
    wo = (w + 2 * padding - dilation * 2 - 1) // stride + 1
    x = torch.randn(n, c_in, h, w, generator=gen)
    # offsets up to +-4 pixels on a 5x6 image: many samples land outside, some exactly on integers
    offset = (torch.rand(n, deform_groups * 18, ho, wo, generator=gen) - 0.5) * 8
    offset[:, ::7] = offset[:, ::7].round()
    mask = torch.rand(n, deform_groups * 9, ho, wo, generator=gen)
    weight = torch.randn(c_out, c_in // groups, 3, 3, generator=gen)
    bias = torch.randn(c_out, generator=gen)
    return (
        x,
        offset,
        mask,
        weight,
        bias,
        {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups, "deform_groups": deform_groups},
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"groups": 2, "deform_groups": 1, "c_out": 4},
        {"stride": 2, "padding": 2, "dilation": 2, "deform_groups": 4},
        {"h": 1, "w": 4, "deform_groups": 1},
    ],
    ids=["dg2", "groups2", "stride2-dil2-dg4", "single-row"],
)
def test_torch_backend_matches_float64_reference(kwargs):
    x, offset, mask, weight, bias, conv = make_inputs(seed=len(kwargs), **kwargs)
    expected = reference_dcn(x, offset, mask, weight, bias, **conv)
    ours64 = modulated_deform_conv2d(
        x.double(), offset.double(), mask.double(), weight.double(), bias.double(), backend="torch", **conv
    )
    assert np.abs(ours64.numpy() - expected).max() < 1e-10
    ours32 = modulated_deform_conv2d(x, offset, mask, weight, bias, backend="torch", **conv)
    assert ours32.dtype == torch.float32
    assert np.abs(ours32.numpy() - expected).max() < 1e-4


def test_samples_far_outside_read_zero():
    x, offset, mask, weight, _, conv = make_inputs(seed=3)
    out = modulated_deform_conv2d(x, torch.full_like(offset, 50.0), mask, weight, None, backend="torch", **conv)
    assert torch.count_nonzero(out) == 0


def test_available_backends_agree():
    x, offset, mask, weight, bias, conv = make_inputs(seed=7, n=1, c_in=8, h=9, w=11, c_out=5)
    backends = available_backends("cpu")
    assert "torch" in backends
    results = {name: modulated_deform_conv2d(x, offset, mask, weight, bias, backend=name, **conv) for name in backends}
    for name in backends:
        assert (results[name] - results["torch"]).abs().max() < 1e-4, name
    missing = sorted(set(BACKENDS) - set(backends))
    if missing:
        pytest.skip(f"backends not installed here (only compared {backends}): {missing}")


def test_env_var_selects_and_validates(monkeypatch):
    monkeypatch.setenv("E2FGVI_DEFORM_BACKEND", "torch")
    assert resolve_backend("cpu") == "torch"
    monkeypatch.setenv("E2FGVI_DEFORM_BACKEND", "cuda_magic")
    with pytest.raises(ConfigError, match="E2FGVI_DEFORM_BACKEND.*torch, torchvision, mmcv"):
        resolve_backend("cpu")
    monkeypatch.delenv("E2FGVI_DEFORM_BACKEND")
    assert resolve_backend("cpu") == "torch"


def test_unavailable_backend_is_a_clear_error(monkeypatch):
    unavailable = [name for name in BACKENDS if name not in available_backends("cpu")]
    if not unavailable:
        pytest.skip("every backend is installed here")
    monkeypatch.setenv("E2FGVI_DEFORM_BACKEND", unavailable[0])
    with pytest.raises(ConfigError, match=f"{unavailable[0]}.*not available.*torch"):
        x, offset, mask, weight, bias, conv = make_inputs(seed=1)
        modulated_deform_conv2d(x, offset, mask, weight, bias, **conv)


def test_config_from_mapping_names_bad_key():
    with pytest.raises(ConfigError, match="'bakend'"):
        DeformConvConfig.from_mapping({"bakend": "torch"})
    assert DeformConvConfig.from_mapping({"backend": "MMCV"}).backend == "mmcv"


def test_gradients_flow_through_torch_backend():
    x, offset, mask, weight, bias, conv = make_inputs(seed=5, n=1)
    for t in (x, offset, mask, weight):
        t.requires_grad_(True)
    modulated_deform_conv2d(x, offset, mask, weight, bias, backend="torch", **conv).sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (x, offset, mask, weight))
