"""Global (camera) motion of a frame pair: a homography fitted to the measured flow around the holes.

Flow completed by smooth interpolation drifts inside large holes, and chains of it accumulate that drift frame
after frame. Most of what hides behind a matte in a handheld or panning shot is background that moves with the
camera; for a camera that mostly rotates, or a distant or planar background, one homography per frame pair describes
that motion exactly, and composing them reaches far frames without drift. Pixels whose measured flow disagrees with
the homography are moving foreground (a player, a passer-by): they are flagged so that background is never fetched
from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MOVING_PX = 3.0  # measured flow this far from the camera motion marks a pixel as moving foreground (measured: 2-4)
_GRID_STRIDE_PX = 6
_MIN_POINTS = 16
_MIN_INLIER_SHARE = 0.2
_RANSAC_PX = 1.0
_REFIT_ITERATIONS = 6  # least-squares refits after RANSAC (``fit_homography``); the set settles within a few
REFINE_MAX_PX = 4.0  # ``refine_homography`` trusts a direct alignment that moves the corners no farther than this
_REFINE_ITERATIONS = 10  # started from the composed estimate, ECC reaches _REFINE_EPS within a few steps
_REFINE_EPS = 1e-3
_REFINE_PIXELS = 1 << 19  # larger plates are aligned scaled down to this (full HD: at about 960x540)
CHANGE_LEVEL = 12.0 / 255.0  # a change larger than this (blurred, largest channel) marks a pixel as changed


@dataclass(frozen=True)
class PairMotion:
    """Camera motion of frames a -> b (adjacent in time).

    ``homography``: (3, 3) float64 mapping pixel positions of a to b, or None when no fit was trustworthy (too few
    measured pixels or inliers); ``moving_a`` / ``moving_b``: bool (h, w), pixels of a / b whose measured flow does
    not follow the homography (moving objects; all False without a homography).
    """

    homography: np.ndarray | None
    moving_a: np.ndarray
    moving_b: np.ndarray


def fit_homography(flow: np.ndarray, known: np.ndarray) -> np.ndarray | None:
    """Homography of ``flow`` ((h, w, 2) float32, pixels) on a grid of ``known`` (bool (h, w)) pixels: RANSAC, then
    least squares on the points within ``_RANSAC_PX`` of the fit, repeated until that set stops changing.

    Why the refit: RANSAC's consensus depends on which random samples it draws, and the samples depend on every
    point, so a matte changed in a corner (a few grid points fewer) could flip it and move the camera motion by up to
    a pixel, which moves the colours fetched along it in every frame whose traces cross that pair, far from the
    change. The refit settles on the least-squares fit of the points that agree with it, which moves with the data
    continuously: ``tests/propagate/test_global_motion.py::test_a_few_grid_points_fewer_barely_move_the_fitted_camera_motion``
    (0.2-1.1 px at the frame's corners without the refit, under 0.05 with it); ``benchmarks/propagate_resubmit.py``
    prints what it does to the frames far from a matte change.
    """
    h, w = known.shape
    gy, gx = np.mgrid[_GRID_STRIDE_PX // 2 : h : _GRID_STRIDE_PX, _GRID_STRIDE_PX // 2 : w : _GRID_STRIDE_PX]
    keep = known[gy, gx]
    if keep.sum() < _MIN_POINTS:
        return None
    src = np.stack([gx[keep], gy[keep]], axis=-1).astype(np.float32)
    dst = src + flow[gy[keep], gx[keep]]
    matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, _RANSAC_PX, maxIters=500, confidence=0.99)
    if matrix is None or inliers is None or inliers.sum() < max(_MIN_POINTS, _MIN_INLIER_SHARE * len(src)):
        return None
    if not np.isfinite(matrix).all() or abs(np.linalg.det(matrix)) < 1e-6:
        return None
    agree = None
    for _ in range(_REFIT_ITERATIONS):
        moved = cv2.perspectiveTransform(src[None].astype(np.float64), matrix)[0]
        near = np.hypot(*(moved - dst).T) < _RANSAC_PX
        if near.sum() < max(_MIN_POINTS, _MIN_INLIER_SHARE * len(src)) or (agree is not None and (near == agree).all()):
            break
        refit, _ = cv2.findHomography(src[near], dst[near], 0)
        if refit is None or not np.isfinite(refit).all() or abs(np.linalg.det(refit)) < 1e-6:
            break
        matrix, agree = refit, near
    return matrix


def homography_flow(matrix: np.ndarray, h: int, w: int) -> np.ndarray | None:
    """The (h, w, 2) float32 flow that ``matrix`` induces, or None if it sends a pixel to infinity."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    denominator = matrix[2, 0] * xs + matrix[2, 1] * ys + matrix[2, 2]
    if np.any(np.abs(denominator) < 1e-6):
        return None
    mx = (matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]) / denominator
    my = (matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]) / denominator
    return np.stack([mx - xs, my - ys], axis=-1).astype(np.float32)


def fit_pair_motion(forward: np.ndarray, backward: np.ndarray, measured: np.ndarray) -> PairMotion:
    """Camera motion of a pair from its measured (not yet completed) flows a -> b and b -> a.

    ``measured``: bool (h, w), where the flows are trusted (away from both frames' holes).
    """
    h, w = measured.shape
    still = np.zeros((h, w), dtype=bool)
    matrix = fit_homography(forward, measured)
    if matrix is None:
        return PairMotion(None, still, still.copy())
    along = homography_flow(matrix, h, w)
    back = homography_flow(np.linalg.inv(matrix), h, w)
    if along is None or back is None:
        return PairMotion(None, still, still.copy())
    moving_a = np.hypot(*np.moveaxis(forward - along, -1, 0)) > MOVING_PX
    moving_b = np.hypot(*np.moveaxis(backward - back, -1, 0)) > MOVING_PX
    return PairMotion(matrix, moving_a, moving_b)


def transform_points(matrix: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the points ``(xs, ys)`` under the homography ``matrix``; float32 (n,) each."""
    if xs.size == 0:
        return xs.astype(np.float32), ys.astype(np.float32)
    points = np.stack([xs, ys], axis=-1).astype(np.float64)[None]
    moved = cv2.perspectiveTransform(points, matrix)[0]
    return moved[:, 0].astype(np.float32), moved[:, 1].astype(np.float32)


def compose_motion(motions: list[PairMotion], a: int, b: int) -> np.ndarray | None:
    """The homography mapping positions of frame ``a`` to frame ``b`` (indices of the frames ``motions`` pairs up:
    ``motions[k]`` is k -> k+1), composed pair by pair; None where a pair on the way has none."""
    matrix = np.eye(3)
    step = 1 if b >= a else -1
    for k in range(a, b, step):
        pair = motions[k] if step > 0 else motions[k - 1]
        if pair.homography is None:
            return None
        matrix = (pair.homography if step > 0 else np.linalg.inv(pair.homography)) @ matrix
    return matrix


def changed_pixels(
    frame: np.ndarray, known: np.ndarray, other: np.ndarray, other_known: np.ndarray, matrix: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels of ``frame`` show something else in ``other``, the camera motion (``matrix``: positions of
    ``frame`` to ``other``) compensated: ``(changed, compared)``, bool (h, w) each; ``compared``: where both frames
    are known (``known`` / ``other_known``, bool (h, w)) and the other lies inside the image.

    Why: the flow between adjacent frames flags only what moves more than ``MOVING_PX`` a frame; people standing
    and talking move less, yet over some frames they change, or leave. ``frame`` / ``other``: (h, w, 3) float32.
    """
    h, w = known.shape
    # The other frame and what it knows at this frame's pixels (WARP_INVERSE_MAP: dst(x) = src(matrix x)).
    seen = cv2.warpPerspective(other, matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    seen_known = cv2.warpPerspective(
        other_known.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0
    )
    compared = known & (seen_known > 0)
    # Blurred over the compared pixels only: what a hole holds (the object to remove) must not count.
    difference = _nearest_difference(_known_blur(frame, compared), _known_blur(seen, compared))
    return compared & (difference > CHANGE_LEVEL), compared


def refine_homography(
    frame: np.ndarray, known: np.ndarray, other: np.ndarray, other_known: np.ndarray, matrix: np.ndarray
) -> np.ndarray:
    """``matrix`` (positions of ``frame`` to ``other``, (3, 3) float64) refined by aligning the two frames directly
    (OpenCV ECC on the luma, over the pixels both know); ``matrix`` itself where that fails or moves
    the image corners by more than ``REFINE_MAX_PX``.

    Why: a homography composed over many frame pairs gathers each pair's fitting error; twenty pairs away a
    fraction of a pixel per pair is a pixel or two, enough to turn fine texture (foliage, gravel) fetched from a
    far reference frame into noise. One direct alignment from the composed estimate removes the drift.
    """
    h, w = known.shape
    luma = np.array([[0.299, 0.587, 0.114]], np.float32)
    seen_known = cv2.warpPerspective(
        other_known.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=0
    )
    mask = (known & (seen_known > 0)).astype(np.uint8)
    if int(mask.sum()) < _MIN_POINTS * _GRID_STRIDE_PX**2:
        return matrix
    template, image = cv2.transform(frame, luma), cv2.transform(other, luma)
    # Large plates are aligned at a size of at most _REFINE_PIXELS (a sub-pixel error there stays well under a
    # pixel of the plate; ECC's cost grows with the pixels).
    factor = min(1.0, float(np.sqrt(_REFINE_PIXELS / (h * w))))
    scale = np.diag([factor, factor, 1.0])
    if factor < 1.0:
        size = (max(round(w * factor), 1), max(round(h * factor), 1))
        template = cv2.resize(template, size, interpolation=cv2.INTER_AREA)
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    start = scale @ matrix @ np.linalg.inv(scale)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, _REFINE_ITERATIONS, _REFINE_EPS)
    try:
        _, warp = cv2.findTransformECC(
            template, image, (start / start[2, 2]).astype(np.float32), cv2.MOTION_HOMOGRAPHY, criteria, mask, 3
        )
    except cv2.error:  # did not converge, or a degenerate image
        return matrix
    refined = np.linalg.inv(scale) @ warp.astype(np.float64) @ scale
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float32)
    before = transform_points(matrix, corners[:, 0], corners[:, 1])
    after = transform_points(refined, corners[:, 0], corners[:, 1])
    if not np.isfinite(refined).all() or np.hypot(after[0] - before[0], after[1] - before[1]).max() > REFINE_MAX_PX:
        return matrix
    return refined


def _known_blur(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``image`` (h, w, 3) blurred (Gaussian, sigma 1) over its ``known`` pixels only (normalised convolution)."""
    weight = known.astype(np.float32)
    total = cv2.GaussianBlur(image * weight[..., None], (0, 0), 1.0)
    norm = cv2.GaussianBlur(weight, (0, 0), 1.0)
    return total / np.maximum(norm, 1e-6)[..., None]


def _nearest_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, the smallest difference (largest channel) between ``a`` and ``b`` shifted by up to one pixel:
    a camera motion fitted to a fraction of a pixel must not mark sharp edges as changed."""
    h, w = a.shape[:2]
    padded = cv2.copyMakeBorder(b, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    best = None
    for dy in range(3):
        for dx in range(3):
            # OpenCV's element-wise calls: numpy's max over a 3-long last axis is several times slower.
            difference = cv2.absdiff(a, padded[dy : dy + h, dx : dx + w])
            largest = cv2.max(cv2.max(difference[..., 0], difference[..., 1]), difference[..., 2])
            best = largest if best is None else cv2.min(best, largest)
    return best
