"""The soft edge of the composite (``--feather N``): how much of the fill each hole pixel takes.

The official composite is hard: inside the dilated hole the fill, outside it the plate. A hard edge can show as a
line where the fill's grain or exposure differs slightly from the plate's. Feathering ramps the fill in over the
``width`` pixels just inside the hole's edge, so it never reaches outside the hole: pixels outside it stay
bit-identical, as every other path of the engine guarantees. ``width=0`` is the official hard edge.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["feather_composite", "feather_native", "feather_weights"]


def feather_weights(hole: np.ndarray, width: int) -> np.ndarray:
    """(h, w) bool hole -> (h, w) float32 fill weight: 0 outside, ramping to 1 over ``width`` pixels inside.

    A hole pixel at (Euclidean) distance d from the nearest plate pixel gets ``min(1, d / (width + 1))``, so the
    first ``width`` rings inside the edge are partial and every deeper pixel takes the fill alone.
    """
    hole = np.asarray(hole, dtype=bool)
    if width <= 0 or not hole.any():
        return hole.astype(np.float32)
    if hole.all():
        return np.ones(hole.shape, np.float32)
    distance = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    weights = np.minimum(distance / np.float32(width + 1), np.float32(1.0)).astype(np.float32)
    weights[~hole] = 0.0
    return weights


def feather_composite(plate: np.ndarray, fill: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``plate + (fill - plate) * weights`` in float32 for (h, w, c) arrays; exact where weights are 0 or 1."""
    plate32 = np.asarray(plate, dtype=np.float32)
    fill32 = np.asarray(fill, dtype=np.float32)
    w = weights[..., None] if weights.ndim == plate32.ndim - 1 else weights
    out = np.where(w >= 1.0, fill32, plate32 + (fill32 - plate32) * w)
    return np.where(w <= 0.0, plate32, out).astype(np.float32)


def feather_native(plate: np.ndarray, fill: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``feather_composite`` in the plate's own dtype: integers rounded and clipped, NaN in the plate read as 0.

    (h, w, c) plate and fill of one dtype; returns that dtype. Where the weight is 1 the fill comes back exactly.
    """
    mixed = feather_composite(np.nan_to_num(plate.astype(np.float32)), fill, weights)
    if np.issubdtype(plate.dtype, np.integer):
        top = np.iinfo(plate.dtype).max
        mixed = np.clip(np.round(mixed), 0, top)
    return np.where(weights[..., None] >= 1.0, fill, mixed.astype(plate.dtype))
