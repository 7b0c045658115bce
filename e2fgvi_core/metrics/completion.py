"""Video-completion metrics: PSNR and SSIM (whole frame and inside the hole), warping error E_warp, Frechet distance.

We score engines the way the E2FGVI paper does (its ``evaluate.py``): outputs composited into the ground truth
outside the hole, quantised to 8 bits, PSNR with a peak of 255 and SSIM with a 65-pixel uniform window averaged over
the three channels, both averaged over frames. Whole-frame numbers are diluted by the untouched pixels, so we also
report them inside the hole only. Temporal stability is the warping error of Lai et al. (ECCV 2018): consecutive
outputs compared after warping along the optical flow of the ground truth (OpenCV DIS, ``medium`` preset), on pixels
where that flow is forward-backward consistent. PSNR rewards blur (a smooth smear is the mean-squared-error
optimum of an unknown texture), so ``hole_detail`` measures what it hides: the high-frequency energy of the result
inside the hole relative to the ground truth's. numpy + OpenCV only, so the engine's environment can run them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from e2fgvi_core.errors import ConfigError

PAPER_SSIM_WINDOW = 65
EWARP_FLOW_METHOD = "OpenCV DIS optical flow (PRESET_MEDIUM) on the ground-truth frames, fwd-bwd consistency mask"
_K1, _K2 = 0.01, 0.03
HOLE_DETAIL_SIGMA = 1.5


def psnr(reference: np.ndarray, test: np.ndarray, data_range: float = 1.0, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical inputs.

    ``reference``/``test``: same-shaped arrays (h, w[, c]); ``mask`` bool (h, w) restricts the mean squared error
    to those pixels (all channels). An empty mask gives ``nan`` (nothing to score).
    """
    reference, test = _pair(reference, test)
    diff2 = (reference - test) ** 2
    if mask is not None:
        mask = _mask_for(mask, reference)
        if not mask.any():
            return float("nan")
        diff2 = diff2[mask]
    mse = float(np.mean(diff2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(
    reference: np.ndarray,
    test: np.ndarray,
    data_range: float = 1.0,
    win_size: int = 7,
    mask: np.ndarray | None = None,
) -> float:
    """Structural similarity with a uniform ``win_size`` window, as ``skimage.metrics.structural_similarity``.

    Colour images (h, w, c) are scored per channel and averaged. Without ``mask`` the SSIM map is averaged away from
    the border (``(win_size - 1) // 2`` pixels cropped, as skimage does); with ``mask`` (bool (h, w)) it is averaged
    over the masked pixels.
    """
    if win_size < 3 or win_size % 2 == 0:
        raise ConfigError(f"ssim win_size={win_size}: must be an odd integer >= 3")
    reference, test = _pair(reference, test)
    if min(reference.shape[:2]) < win_size:
        raise ConfigError(f"ssim win_size={win_size} is larger than the image {reference.shape[:2]}")
    smap = ssim_map(reference, test, data_range, win_size)
    if mask is not None:
        mask = _mask_for(mask, reference)
        if not mask.any():
            return float("nan")
        return float(smap[mask].mean())
    pad = (win_size - 1) // 2
    return float(smap[pad : smap.shape[0] - pad, pad : smap.shape[1] - pad].mean())


def ssim_map(reference: np.ndarray, test: np.ndarray, data_range: float = 1.0, win_size: int = 7) -> np.ndarray:
    """Per-pixel SSIM (h, w) float64, averaged over channels; uniform window with the sample-covariance correction."""
    reference, test = _pair(reference, test)
    if reference.ndim == 2:
        reference, test = reference[..., None], test[..., None]
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    n = win_size * win_size
    cov_norm = n / (n - 1.0)
    total = np.zeros(reference.shape[:2], dtype=np.float64)
    for ch in range(reference.shape[2]):
        x = np.ascontiguousarray(reference[..., ch])
        y = np.ascontiguousarray(test[..., ch])
        ux, uy = _box(x, win_size), _box(y, win_size)
        vx = cov_norm * (_box(x * x, win_size) - ux * ux)
        vy = cov_norm * (_box(y * y, win_size) - uy * uy)
        vxy = cov_norm * (_box(x * y, win_size) - ux * uy)
        numerator = (2 * ux * uy + c1) * (2 * vxy + c2)
        denominator = (ux * ux + uy * uy + c1) * (vx + vy + c2)
        total += numerator / denominator
    return total / reference.shape[2]


def paper_psnr_ssim(reference_u8: np.ndarray, test_u8: np.ndarray) -> tuple[float, float]:
    """Whole-frame (PSNR, SSIM) by the paper's protocol: 8-bit frames, peak 255, 65-pixel SSIM window."""
    if reference_u8.dtype != np.uint8 or test_u8.dtype != np.uint8:
        raise ConfigError("paper_psnr_ssim expects uint8 frames (the paper scores 8-bit composites)")
    return psnr(reference_u8, test_u8, 255.0), ssim(reference_u8, test_u8, 255.0, PAPER_SSIM_WINDOW)


def to_u8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] -> uint8 by rounding, as written to an 8-bit file."""
    return np.clip(np.asarray(frames, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class WarpField:
    """Where each pixel of frame t lands in frame t+1 (``map_x``, ``map_y`` (h, w) float32) and where to trust it."""

    map_x: np.ndarray
    map_y: np.ndarray
    valid: np.ndarray


def ground_truth_warps(ground_truth: np.ndarray, consistency_px: float = 0.5) -> list[WarpField]:
    """Warp fields between consecutive ground-truth frames ((t, h, w, 3) in [0, 1] or uint8), for ``warping_error``.

    Computed once per clip and shared by every engine scored on it. ``valid`` excludes occlusions (forward-backward
    flows disagree by more than ``consistency_px + 1%`` of their squared magnitude, the usual rule) and pixels
    that leave the frame.
    """
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gray = [cv2.cvtColor(_as_u8(frame), cv2.COLOR_RGB2GRAY) for frame in ground_truth]
    h, w = gray[0].shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    fields = []
    for a, b in itertools.pairwise(gray):
        forward = dis.calc(a, b, None)
        backward = dis.calc(b, a, None)
        map_x = grid_x + forward[..., 0]
        map_y = grid_y + forward[..., 1]
        back = cv2.remap(backward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        disagreement = np.sum((forward + back) ** 2, axis=-1)
        magnitude = np.sum(forward**2, axis=-1) + np.sum(back**2, axis=-1)
        valid = disagreement <= 0.01 * magnitude + consistency_px
        valid &= (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        fields.append(WarpField(map_x, map_y, valid))
    return fields


def warping_error(outputs: np.ndarray, fields: list[WarpField], regions: np.ndarray | None = None) -> float:
    """E_warp: mean over frame pairs of the mean squared difference between output t and output t+1 warped back.

    ``outputs``: (t, h, w, 3) float in [0, 1]; ``fields`` from ``ground_truth_warps`` (t - 1 of them);
    ``regions``: optional bool (t, h, w), scoring only those pixels of frame t (e.g. the hole). Pairs with no
    valid pixel are skipped; ``nan`` if none is left.
    """
    outputs = np.asarray(outputs, dtype=np.float32)
    if len(fields) != len(outputs) - 1:
        raise ConfigError(
            f"warping_error: {len(outputs)} outputs need {len(outputs) - 1} warp fields, got {len(fields)}"
        )
    errors = []
    for t, field in enumerate(fields):
        warped = cv2.remap(outputs[t + 1], field.map_x, field.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        valid = field.valid if regions is None else field.valid & regions[t]
        if not valid.any():
            continue
        errors.append(float(np.mean((outputs[t][valid] - warped[valid]) ** 2)))
    return float(np.mean(errors)) if errors else float("nan")


def detail_energy(frames: np.ndarray, regions: np.ndarray) -> float:
    """Mean squared high-pass luma over the ``regions`` pixels of all frames (the numerator/denominator of
    ``hole_detail``): luma (BT.601, in [0, 1]) minus its Gaussian blur (sigma ``HOLE_DETAIL_SIGMA``), squared.

    ``frames``: (t, h, w, 3) RGB, uint8 or float in [0, 1]; ``regions``: bool (t, h, w). ``nan`` on an empty region.
    """
    frames = np.asarray(frames)
    regions = np.asarray(regions, dtype=bool)
    if regions.shape != frames.shape[:3]:
        raise ConfigError(f"detail_energy: regions shape {regions.shape} does not match frames {frames.shape[:3]}")
    scale = 1.0 / 255.0 if frames.dtype == np.uint8 else 1.0
    total, count = 0.0, 0
    for frame, region in zip(frames, regions):
        if not region.any():
            continue
        rgb = frame.astype(np.float32) * np.float32(scale)
        luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
        high = luma - cv2.GaussianBlur(luma, (0, 0), HOLE_DETAIL_SIGMA, borderType=cv2.BORDER_REFLECT)
        total += float(np.sum(high[region].astype(np.float64) ** 2))
        count += int(region.sum())
    return total / count if count else float("nan")


def hole_detail(result: np.ndarray, ground_truth: np.ndarray, holes: np.ndarray) -> float:
    """High-frequency energy of ``result`` inside ``holes`` divided by the ground truth's there (``detail_energy``).

    A smear scores near 0, a faithful texture near 1, added noise above 1. Score composites (the result outside the
    hole replaced by the ground truth), so the blur near the hole's edge reads the true surroundings for both.
    ``nan`` when the holes are empty or the ground truth has no detail there.
    """
    truth = detail_energy(ground_truth, holes)
    if not truth > 0.0:
        return float("nan")
    return detail_energy(result, holes) / truth


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between two Gaussians (the VFID formula on I3D activations), numpy only.

    Tr(sqrt(S1 S2)) is computed as Tr(sqrt(A S2 A)) with A = sqrt(S1), which is symmetric positive semi-definite,
    so both square roots are eigen-decompositions.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    root1 = _sqrt_psd(sigma1)
    middle = _sqrt_psd(root1 @ sigma2 @ root1)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(middle))


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def _box(image: np.ndarray, win_size: int) -> np.ndarray:
    return cv2.boxFilter(image, cv2.CV_64F, (win_size, win_size), normalize=True, borderType=cv2.BORDER_REFLECT)


def _pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if reference.shape != test.shape:
        raise ConfigError(f"metrics: shapes differ, reference {reference.shape} vs test {test.shape}")
    return reference, test


def _mask_for(mask: np.ndarray, image: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != image.shape[:2]:
        raise ConfigError(f"metrics: mask shape {mask.shape} does not match image {image.shape[:2]}")
    return mask


def _as_u8(frame: np.ndarray) -> np.ndarray:
    return frame if frame.dtype == np.uint8 else to_u8(frame)
