"""Metrics against hand-computed values and scikit-image's reference SSIM."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from e2fgvi_core import metrics
from e2fgvi_core.errors import ConfigError


def test_psnr_of_known_arrays():
    a = np.zeros((4, 5, 3))
    b = np.full((4, 5, 3), 0.1)
    assert metrics.psnr(a, b) == pytest.approx(20.0)  # mse 0.01 -> 10 log10(1 / 0.01)
    assert metrics.psnr(a, a) == math.inf
    a8 = np.zeros((2, 2), np.uint8)
    b8 = np.array([[0, 0], [0, 10]], np.uint8)  # mse 25
    assert metrics.psnr(a8, b8, 255.0) == pytest.approx(10 * math.log10(255**2 / 25))


def test_psnr_inside_a_mask_scores_only_those_pixels():
    a = np.zeros((4, 4, 3))
    b = a.copy()
    b[0, 0] = 0.5  # an error inside the mask
    b[3, 3] = 1.0  # a larger one outside it
    mask = np.zeros((4, 4), bool)
    mask[:2, :2] = True  # 4 pixels, 12 values; squared error 3 * 0.25 -> mse 0.0625
    assert metrics.psnr(a, b, mask=mask) == pytest.approx(10 * math.log10(1 / 0.0625))
    assert math.isnan(metrics.psnr(a, b, mask=np.zeros((4, 4), bool)))
    with pytest.raises(ConfigError, match="mask shape"):
        metrics.psnr(a, b, mask=np.ones((3, 3), bool))


@pytest.mark.parametrize("channels, win_size", [(None, 7), (3, 7), (3, 65)])
def test_ssim_matches_scikit_image(channels, win_size):
    rng = np.random.default_rng(3)
    shape = (80, 96) if channels is None else (80, 96, channels)
    if win_size == 65:
        a = (rng.random(shape) * 255).astype(np.uint8)
        b = np.clip(a + rng.normal(0, 20, shape), 0, 255).astype(np.uint8)
        data_range = 255.0
    else:
        a = rng.random(shape)
        b = np.clip(a + rng.normal(0, 0.1, shape), 0, 1)
        data_range = 1.0
    ours = metrics.ssim(a, b, data_range, win_size)
    reference = structural_similarity(
        a, b, data_range=data_range, win_size=win_size, channel_axis=None if channels is None else -1
    )
    assert ours == pytest.approx(reference, abs=1e-9)
    assert metrics.ssim(a, a, data_range, win_size) == pytest.approx(1.0)


def test_paper_protocol_uses_8_bit_frames_and_the_65_pixel_window():
    rng = np.random.default_rng(4)
    a = (rng.random((70, 90, 3)) * 255).astype(np.uint8)
    b = np.clip(a.astype(int) + 5, 0, 255).astype(np.uint8)
    p, s = metrics.paper_psnr_ssim(a, b)
    assert p == pytest.approx(metrics.psnr(a, b, 255.0))
    assert s == pytest.approx(structural_similarity(a, b, data_range=255, win_size=65, channel_axis=-1))
    with pytest.raises(ConfigError, match="uint8"):
        metrics.paper_psnr_ssim(a.astype(np.float32), b)


def test_ssim_inside_a_mask_and_bad_windows():
    rng = np.random.default_rng(5)
    a = rng.random((40, 40, 3))
    b = a.copy()
    b[:20] = rng.random((20, 40, 3))  # damage the top half only
    bottom = np.zeros((40, 40), bool)
    bottom[30:] = True
    top = np.zeros((40, 40), bool)
    top[:10] = True
    assert metrics.ssim(a, b, mask=bottom) == pytest.approx(1.0)
    assert metrics.ssim(a, b, mask=top) < 0.2
    with pytest.raises(ConfigError, match="odd"):
        metrics.ssim(a, b, win_size=8)
    with pytest.raises(ConfigError, match="mask shape"):
        metrics.ssim(a, b, mask=np.ones((30, 30), bool))


def _textured_pan(t=6, h=64, w=96, shift=2):
    rng = np.random.default_rng(6)
    canvas = cv2.GaussianBlur(rng.random((h, w + shift * t, 3)).astype(np.float32), (0, 0), 2.0)
    canvas = (canvas - canvas.min()) / (canvas.max() - canvas.min())
    return np.stack([canvas[:, i * shift : i * shift + w] for i in range(t)])


def test_warping_error_of_a_constant_clip_is_zero():
    clip = np.full((5, 48, 64, 3), 0.4, np.float32)
    warps = metrics.ground_truth_warps(clip)
    assert len(warps) == 4
    assert metrics.warping_error(clip, warps) == 0.0


def test_warping_error_is_small_for_the_truth_and_large_for_flicker():
    truth = _textured_pan()
    warps = metrics.ground_truth_warps(truth)
    steady = metrics.warping_error(truth, warps)
    flicker = truth.copy()
    flicker[1::2] = np.clip(flicker[1::2] + 0.1, 0, 1)  # every other frame brighter
    assert steady < 1e-4
    assert metrics.warping_error(flicker, warps) > 50 * steady
    assert metrics.warping_error(flicker, warps) == pytest.approx(0.01, rel=0.3)
    regions = np.zeros(truth.shape[:3], bool)
    regions[:, 20:40, 30:60] = True
    assert metrics.warping_error(truth, warps, regions=regions[:-1]) < 1e-4
    with pytest.raises(ConfigError, match="warp fields"):
        metrics.warping_error(truth[:3], warps)


def test_frechet_distance_of_gaussians():
    assert metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(3)) == pytest.approx(0.0, abs=1e-9)
    # 1-D: (mu1 - mu2)^2 + s1 + s2 - 2 sqrt(s1 s2) = 1 + 1 + 4 - 4
    assert metrics.frechet_distance(np.array([0.0]), np.array([[1.0]]), np.array([1.0]), np.array([[4.0]])) == (
        pytest.approx(2.0)
    )


def test_hole_detail_is_one_for_the_truth_near_zero_for_a_smear_and_above_one_for_noise():
    rng = np.random.default_rng(11)
    truth = (rng.random((3, 40, 48, 3)) * 255).astype(np.uint8)
    holes = np.zeros((3, 40, 48), bool)
    holes[:, 10:30, 12:36] = True
    assert metrics.hole_detail(truth, truth, holes) == pytest.approx(1.0)
    smear = truth.copy()
    smear[holes] = truth[holes].mean(axis=0).astype(np.uint8)  # one flat colour inside the hole
    assert metrics.hole_detail(smear, truth, holes) < 0.2
    noisy = np.clip(truth.astype(np.int16) + rng.integers(-60, 61, truth.shape), 0, 255).astype(np.uint8)
    assert metrics.hole_detail(noisy, truth, holes) > 1.05
    # Only hole pixels count: detail outside the hole does not change the score.
    outside = smear.copy()
    outside[~holes] = 0
    assert metrics.hole_detail(outside, truth, holes) == pytest.approx(
        metrics.detail_energy(outside, holes) / metrics.detail_energy(truth, holes)
    )


def test_hole_detail_of_a_known_pattern_and_empty_holes():
    # A vertical step of height 1 in luma (grey 0 -> 255): the energy is that of the Gaussian-blur residual.
    frame = np.zeros((1, 20, 20, 3), np.uint8)
    frame[0, :, 10:] = 255
    holes = np.zeros((1, 20, 20), bool)
    holes[0, :, 8:12] = True
    luma = np.where(np.arange(20) >= 10, 1.0, 0.0).astype(np.float32)[None].repeat(20, 0)
    high = luma - cv2.GaussianBlur(luma, (0, 0), metrics.completion.HOLE_DETAIL_SIGMA, borderType=cv2.BORDER_REFLECT)
    assert metrics.detail_energy(frame, holes) == pytest.approx(float(np.mean(high[:, 8:12] ** 2)), rel=1e-5)
    assert math.isnan(metrics.hole_detail(frame, frame, np.zeros_like(holes)))
    with pytest.raises(ConfigError, match="regions shape"):
        metrics.detail_energy(frame, holes[0])
