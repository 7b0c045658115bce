"""What no frame of the window ever saw: spatial inpainting, and seam correction of propagated pixels.

Propagated colours come from other frames, whose exposure or shading can differ slightly: the difference measured
on the hole's border is diffused smoothly into the hole (a membrane, i.e. Poisson blending with the propagated
image as guidance), so no seam shows. Pixels that stay unknown are painted by OpenCV's Telea or Navier-Stokes
inpainting from everything around them, propagated pixels included.
"""

from __future__ import annotations

import cv2
import numpy as np

from e2fgvi_core.metrics import to_u8
from e2fgvi_core.propagate.harmonic import fill_harmonic_coarse, grow_mask

_METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}


def correct_seams(
    image: np.ndarray, filled: np.ndarray, residual_known: np.ndarray, residual: np.ndarray, iterations: int = 30
) -> np.ndarray:
    """Add to the ``filled`` pixels of ``image`` a smooth interpolation of ``residual`` known on ``residual_known``.

    ``image`` (h, w, 3) float32; ``filled`` bool (h, w): the propagated pixels to correct; ``residual`` (h, w, 3)
    float32 valid where ``residual_known`` (bool (h, w)): true colour minus propagated colour on the border ring.
    """
    if not filled.any() or not residual_known.any():
        return image
    field = np.where(residual_known[..., None], residual, 0.0).astype(np.float32)
    # Only the residual on the ring and inside the filled area matters: elsewhere pin it to 0 far from the hole.
    smooth = fill_harmonic_coarse(field, residual_known | ~grow_mask(filled | residual_known, 8), iterations)
    out = image.copy()
    out[filled] += smooth[filled]
    return out


def inpaint_spatial(image: np.ndarray, unknown: np.ndarray, method: str = "telea", radius_px: int = 5) -> np.ndarray:
    """Fill ``unknown`` (bool (h, w)) pixels of ``image`` ((h, w, 3) float32 in [0, 1]) from their surroundings."""
    if not unknown.any():
        return image
    # Inpainting reads only a band of ``radius_px`` around the unknown pixels: crop to their bounding box.
    ys, xs = np.nonzero(unknown)
    margin = radius_px + 2
    y0, y1 = max(int(ys.min()) - margin, 0), min(int(ys.max()) + margin + 1, unknown.shape[0])
    x0, x1 = max(int(xs.min()) - margin, 0), min(int(xs.max()) + margin + 1, unknown.shape[1])
    crop = np.ascontiguousarray(image[y0:y1, x0:x1])
    crop_unknown = unknown[y0:y1, x0:x1]
    painted = cv2.inpaint(to_u8(crop), crop_unknown.astype(np.uint8), radius_px, _METHODS[method])
    out = image.copy()
    out[y0:y1, x0:x1][crop_unknown] = painted[crop_unknown].astype(np.float32) / 255.0
    return out
