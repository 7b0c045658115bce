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
