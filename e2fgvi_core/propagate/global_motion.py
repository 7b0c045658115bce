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
CHANGE_DISTANCE_FRAMES = 10  # ``changed_pixels`` compares a frame with the frames this far on each side
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
    """RANSAC homography of ``flow`` ((h, w, 2) float32, pixels) on a grid of ``known`` (bool (h, w)) pixels."""
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
    frames: np.ndarray, holes: np.ndarray, motions: list[PairMotion], index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels of frame ``index`` show something else ``CHANGE_DISTANCE_FRAMES`` frames before or after it (the
    nearest frame within ``frames`` on each side), the camera motion compensated: ``(changed, compared)``, bool
    (h, w) each; ``compared``: where at least one of those frames is known (outside its hole, inside the image),
    and this frame too.

    Why: the flow between adjacent frames flags only what moves more than ``MOVING_PX`` a frame; people standing
    and talking move less, yet over ten frames they change. ``frames`` (t, h, w, 3) float32, ``holes`` bool.
    """
    t, h, w = holes.shape
    others = {min(max(index + d, 0), t - 1) for d in (-CHANGE_DISTANCE_FRAMES, CHANGE_DISTANCE_FRAMES)} - {index}
    own = ~holes[index]
    changed = np.zeros((h, w), bool)
    compared = np.zeros((h, w), bool)
    for other in sorted(others):
        matrix = compose_motion(motions, index, other)
        if matrix is None:
            continue
        # The other frame and its hole at this frame's pixels (WARP_INVERSE_MAP: dst(x) = src(matrix x)).
        seen = cv2.warpPerspective(frames[other], matrix, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        unknown = cv2.warpPerspective(
            holes[other].astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderValue=1
        )
        known = own & (unknown == 0)
        # Blurred over the known pixels only: what a hole holds (the object to remove) must not count.
        difference = _nearest_difference(_known_blur(frames[index], known), _known_blur(seen, known))
        changed |= known & (difference > CHANGE_LEVEL)
        compared |= known
    return changed, compared


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
    best = np.full((h, w), np.inf, np.float32)
    for dy in range(3):
        for dx in range(3):
            best = np.minimum(best, np.abs(a - padded[dy : dy + h, dx : dx + w]).max(axis=-1))
    return best
