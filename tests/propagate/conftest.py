"""Fixtures for the weight-free engine: a synthetic panning shot with known hidden background, real footage."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest


@dataclass
class PanningShot:
    """A textured background panning left by ``shift_px`` per frame behind a square that stays put in the frame.

    ``frames`` float32 (t, h, w, 3) in [0, 1] (the occluder painted in), ``holes`` bool (t, h, w) (its dilated
    matte), ``background`` the clean frames (ground truth), ``seen`` bool (t, h, w): hole pixels whose background
    point is visible (outside the hole) in at least one other frame within ``context`` frames.
    """

    frames: np.ndarray
    holes: np.ndarray
    background: np.ndarray
    seen: np.ndarray
    shift_px: int


def make_panning_shot(
    t: int = 13, h: int = 96, w: int = 128, shift_px: int = 3, context: int = 6, seed: int = 0
) -> PanningShot:
    rng = np.random.default_rng(seed)
    canvas_w = w + shift_px * (t - 1)
    noise = rng.random((h // 4 + 2, canvas_w // 4 + 2, 3)).astype(np.float32)
    canvas = cv2.resize(noise, (canvas_w + 8, h + 8), interpolation=cv2.INTER_CUBIC)[4 : 4 + h, 4 : 4 + canvas_w]
    canvas = np.clip(cv2.GaussianBlur(canvas, (0, 0), 1.0), 0.0, 1.0)
    background = np.stack([canvas[:, i * shift_px : i * shift_px + w] for i in range(t)])
    y0, x0, size = h // 2 - 14, w // 2 - 14, 28
    occluder = np.zeros((h, w), bool)
    occluder[y0 : y0 + size, x0 : x0 + size] = True
    hole = cv2.dilate(occluder.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    frames = background.copy()
    stripes = (np.indices((size, size)).sum(axis=0) % 6 < 3).astype(np.float32)
    for i in range(t):
        frames[i, y0 : y0 + size, x0 : x0 + size] = np.stack([stripes, 1 - stripes, 0.5 * stripes], axis=-1)
    holes = np.repeat(hole[None], t, axis=0)
    # Column c of frame i shows canvas column c + i * shift; it is seen if some frame j != i within the context
    # shows that canvas column outside the hole, one pixel clear of it (a bilinear sample must not touch the hole).
    hole_cols = np.nonzero(hole.any(axis=0))[0]
    near_hole = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    seen = np.zeros_like(holes)
    for i in range(t):
        for c in hole_cols:
            canvas_col = c + i * shift_px
            for j in range(max(0, i - context), min(t, i + context + 1)):
                col_j = canvas_col - j * shift_px
                if j != i and 0 <= col_j < w and not near_hole[:, col_j].any():
                    seen[i, :, c] = hole[:, c]
                    break
    return PanningShot(frames.astype(np.float32), holes, background.astype(np.float32), seen, shift_px)


@pytest.fixture(scope="module")
def panning_shot() -> PanningShot:
    return make_panning_shot()
