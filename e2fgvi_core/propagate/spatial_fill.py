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
DETAIL_SIGMA = 1.5  # the band of fine detail copied into painted areas (docs/quality.md's hole detail uses 1.5)
_MIN_SOURCE_KNOWN = 0.9  # share of a detail source region that must lie outside every hole


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


def add_detail(image: np.ndarray, painted: np.ndarray, source: np.ndarray, hole: np.ndarray, gain: float) -> np.ndarray:
    """Add fine detail to the ``painted`` pixels of ``image``: the high-frequency band (each channel minus its
    Gaussian blur, sigma ``DETAIL_SIGMA``) of ``source`` copied from the nearest region of the same shape beside each
    painted blob that lies (mostly) outside the ``hole``, times ``gain``.

    Why: what no frame shows is painted smoothly (Telea), a smear with almost no detail (hole detail 0.01 on
    docs/quality.md's schoolgirls/static), which reads as a blur next to the real texture. Exemplar synthesis of the
    whole fill (OpenCV contrib's shift-map) cloned people standing beside the hole and cost 4.5 dB inside it; the
    detail band alone adds the surroundings' texture and grain on top of the smooth fill, at a small PSNR cost (the
    band carries little energy), and the offset depends only on the hole's shape, so a static hole gets the same
    detail on every frame (no flicker).
    """
    if gain <= 0 or not painted.any():
        return image
    band = detail_band(source)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(painted.astype(np.uint8), connectivity=8)
    h, w = painted.shape
    out = image.copy()
    for label in range(1, count):
        x, y, bw, bh = (int(v) for v in stats[label, :4])
        blob = labels[y : y + bh, x : x + bw] == label
        for dx, dy in _offsets(bw, bh):
            sx, sy = x + dx, y + dy
            if sx < 0 or sy < 0 or sx + bw > w or sy + bh > h:
                continue
            outside = ~hole[sy : sy + bh, sx : sx + bw][blob]
            if outside.mean() < _MIN_SOURCE_KNOWN:
                continue
            detail = band[sy : sy + bh, sx : sx + bw][blob] * outside[:, None]
            target = out[y : y + bh, x : x + bw]
            target[blob] += gain * detail
            break
    return out


def detail_band(image: np.ndarray) -> np.ndarray:
    """The fine-detail band of ``image`` (h, w, 3): each channel minus its Gaussian blur (sigma ``DETAIL_SIGMA``)."""
    return image - cv2.GaussianBlur(image, (0, 0), DETAIL_SIGMA, borderType=cv2.BORDER_REFLECT)


def _offsets(width: int, height: int, margin: int = 2) -> list[tuple[int, int]]:
    """Candidate source offsets for a blob of this bounding box: beside it, nearest first."""
    mx, my = width + margin, height + margin
    near = [(mx, 0), (-mx, 0), (0, my), (0, -my), (mx, my), (-mx, my), (mx, -my), (-mx, -my)]
    far = [(2 * dx, 2 * dy) for dx, dy in near]
    return sorted(near, key=lambda d: abs(d[0]) + abs(d[1])) + sorted(far, key=lambda d: abs(d[0]) + abs(d[1]))
