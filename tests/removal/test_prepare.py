"""prepare: matte dilation, model input tensors and mirror padding exactly as the official test.py."""

from __future__ import annotations

import numpy as np
import pytest

from e2fgvi_core.io.colour import decode_srgb, encode_srgb
from e2fgvi_core.removal.prepare import (
    dilate_hole,
    prediction_to_display,
    resize_matte,
    symmetric_pad,
    to_model_input,
)


def test_dilation_matches_the_parity_masks(parity_dir):
    data = np.load(parity_dir / "e2fgvi_hq_pipeline.npz")
    for mask, dilated in zip(data["masks_uint8"], data["masks_dilated_uint8"]):
        assert np.array_equal(dilate_hole(mask > 0), dilated.astype(bool))


def test_dilation_is_an_l1_ball_of_radius_4():
    matte = np.zeros((21, 21), dtype=bool)
    matte[10, 10] = True
    yy, xx = np.mgrid[:21, :21]
    assert np.array_equal(dilate_hole(matte), np.abs(yy - 10) + np.abs(xx - 10) <= 4)


def test_model_input_is_bit_identical_to_the_official_tensor(parity_dir):
    data = np.load(parity_dir / "e2fgvi_hq_forward.npz")
    frames, masks, expected = data["frames_uint8"], data["masks_uint8"], data["masked_frames"][0]
    for i in range(frames.shape[0]):
        got = to_model_input(frames[i], masks[i].astype(bool)).numpy()
        assert np.array_equal(got, expected[i])


def test_symmetric_pad_is_the_official_cat_flip():
    import torch

    x = np.random.default_rng(0).random((100, 200, 3)).astype(np.float32)
    t = torch.from_numpy(x).permute(2, 0, 1)[None, None]
    h, w = 100, 200
    ref = torch.cat([t, torch.flip(t, [3])], 3)[:, :, :, : h + 20]
    ref = torch.cat([ref, torch.flip(ref, [4])], 4)[:, :, :, :, : w + 16]
    got = symmetric_pad(x, (60, 108))
    assert got.shape == (120, 216, 3)
    assert np.array_equal(got, ref[0, 0].permute(1, 2, 0).numpy())
    assert symmetric_pad(x[:60, :108], (60, 108)).shape == (60, 108, 3)


def test_prediction_scale_is_the_official_order():
    import torch

    pred = torch.tensor([[[[0.3]], [[-1.0]], [[0.999]]]])
    out = prediction_to_display(pred)
    assert out.shape == (1, 1, 1, 3) and out.dtype == np.float32
    assert out[0, 0, 0, 0] == ((torch.tensor(0.3) + 1) / 2).numpy()


def test_matte_resize_is_nearest_at_pixel_centres():
    pil = pytest.importorskip("PIL.Image")
    matte = np.random.default_rng(1).random((100, 200)) > 0.7
    expected = np.asarray(pil.fromarray(matte.astype(np.uint8) * 255).resize((432, 240), pil.NEAREST)) > 0
    assert np.array_equal(resize_matte(matte, (432, 240)), expected)


def test_srgb_round_trip_keeps_hdr_and_negatives():
    values = np.array([-0.5, 0.0, 0.002, 0.18, 1.0, 4.0], dtype=np.float32)
    np.testing.assert_allclose(decode_srgb(encode_srgb(values)), values, rtol=1e-5, atol=1e-7)
