"""Synthetic masks for benchmarks and training: seeded static blobs and moving object-shaped masks.

The E2FGVI paper scores video completion with two kinds of masks: stationary blobs (as for watermark or logo
removal) and moving, object-shaped masks. The quality benchmark and the trainer draw them from here, so a benchmark
number and a training sample use the same protocol. numpy + OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from e2fgvi_core.removal.prepare import dilate_hole


def static_masks(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Seeded blobs (a few overlapping ellipses, ~5-15% of the frame), identical on every frame."""
    t, h, w = shape
    rng = np.random.default_rng(seed)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(3, 6))):
        centre = (int(rng.integers(w // 8, w - w // 8)), int(rng.integers(h // 6, h - h // 6)))
        axes = (int(rng.integers(w // 30, w // 11)), int(rng.integers(h // 20, h // 7)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return np.repeat(mask.astype(bool)[None], t, axis=0)


def object_masks(other: np.ndarray, shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """The other clip's object masks (ping-pong over its length), swept across the frame at a seeded speed.

    As the moving object-like masks of the paper's protocol: a constant seeded velocity (1.5-3 px/frame across,
    up to 1 px/frame up or down), bouncing inside a band of +-25% of the width and +-8% of the height.
    """
    t, h, w = shape
    rng = np.random.default_rng(seed)
    speed = rng.uniform([1.5, 0.0], [3.0, 1.0]) * rng.choice([-1.0, 1.0], size=2)
    start = rng.uniform(-1.0, 1.0, size=2)
    band = np.array([0.25 * w, 0.08 * h])
    cycle = list(range(len(other))) + list(range(len(other) - 2, 0, -1))
    out = np.zeros((t, h, w), bool)
    for i in range(t):
        source = cv2.resize(other[cycle[i % len(cycle)]].astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        dx, dy = _bounce(start * band + speed * i, band)
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        out[i] = cv2.warpAffine(source, shift, (w, h), flags=cv2.INTER_NEAREST, borderValue=0).astype(bool)
    return out


def _bounce(position: np.ndarray, band: np.ndarray) -> np.ndarray:
    """Fold a free position into [-band, band] as a ball bouncing between two walls (a triangle wave)."""
    phase = np.mod(position + band, 4 * band)
    return np.where(phase < 2 * band, phase, 4 * band - phase) - band


def dilate_masks(masks: np.ndarray) -> np.ndarray:
    """(t, h, w) bool masks -> the holes the engine fills: its official dilation (3x3 cross, 4 iterations)."""
    return np.stack([dilate_hole(m) for m in masks])


def training_masks(size: tuple[int, int], frame_indices: list[int], seed: int) -> np.ndarray:
    """One training sample's masks at the clip positions ``frame_indices``: (len(frame_indices), h, w) bool.

    As the E2FGVI training protocol: one random object-like shape a third to the whole of the frame, either still
    (half the samples) or drifting at a seeded velocity of up to 3 px per frame, bouncing inside the frame. The mask
    of clip position ``i`` depends only on ``(size, i, seed)``, so consecutive local frames see a smooth motion and
    reference frames far away see the same shape elsewhere; nothing is drawn for frames the sample does not use.
    """
    h, w = size
    rng = np.random.default_rng(seed)
    shape = _random_shape(rng, int(rng.integers(max(h // 3, 1), h)), int(rng.integers(max(w // 3, 1), w)))
    sh, sw = shape.shape
    free = np.array([w - sw, h - sh], dtype=np.float64)
    start = rng.uniform(0.0, 1.0, size=2) * free
    moving = rng.uniform() < 0.5
    speed = rng.uniform(-3.0, 3.0, size=2) if moving else np.zeros(2)
    out = np.zeros((len(frame_indices), h, w), bool)
    for row, index in enumerate(frame_indices):
        x, y = np.round(_bounce(start - free / 2 + speed * index, free / 2) + free / 2).astype(int)
        out[row, y : y + sh, x : x + sw] = shape
    return out


def _random_shape(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A filled star-shaped blob (6-8 lobes of random radius, rounded) of about ``height`` x ``width`` pixels."""
    lobes = int(rng.integers(6, 9))
    ratio = float(rng.integers(6, 9)) / 10.0
    angles = np.sort(rng.uniform(0.0, 2 * np.pi, size=lobes * 3))
    radii = 1.0 - ratio + 2.0 * ratio * rng.uniform(size=angles.size)
    radii /= radii.max()
    points = np.stack(
        [(np.cos(angles) * radii + 1) / 2 * (width - 1), (np.sin(angles) * radii + 1) / 2 * (height - 1)], axis=1
    )
    canvas = np.zeros((height, width), np.uint8)
    cv2.fillPoly(canvas, [np.round(points).astype(np.int32)], 255)
    blur = max(3, (min(height, width) // 8) | 1)
    return cv2.GaussianBlur(canvas, (blur, blur), 0) > 127
