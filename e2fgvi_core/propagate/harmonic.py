"""Smooth (harmonic) completion of fields inside holes: optical flow, colour pre-fills, seam residuals.

The flow measured inside a hole follows the object that is being removed, not the background behind it. What the
background does there is best guessed from the flow around the hole: a membrane (Laplace) interpolation is the
smoothest field that agrees with the border. We solve it multi-scale: a push-pull pyramid gives a good first guess
everywhere in a handful of image-sized operations, then Jacobi sweeps on the hole's bounding box relax it.
"""

from __future__ import annotations

import cv2
import numpy as np

_MIN_LEVEL_SIZE = 4
_CROSS = np.array([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]], dtype=np.float32)


def fill_harmonic(values: np.ndarray, known: np.ndarray, iterations: int = 40) -> np.ndarray:
    """Return ``values`` with the pixels where ``known`` is False replaced by a smooth interpolation.

    ``values``: (h, w) or (h, w, c) float32; ``known``: bool (h, w). Known pixels are returned unchanged. With no
    known pixel at all the unknown ones become 0 (nothing to interpolate from).
    """
    values = np.asarray(values, dtype=np.float32)
    squeeze = values.ndim == 2
    field = values[..., None] if squeeze else values
    unknown = ~known
    if not unknown.any():
        return values.copy()
    if not known.any():
        out = field.copy()
        out[unknown] = 0.0
        return out[..., 0] if squeeze else out
    guess = _push_pull(field, known.astype(np.float32))
    out = field.copy()
    out[unknown] = guess[unknown]
    if iterations > 0:
        _relax(out, unknown, iterations)
    return out[..., 0] if squeeze else out


def fill_harmonic_coarse(values: np.ndarray, known: np.ndarray, iterations: int = 40, scale: int = 2) -> np.ndarray:
    """``fill_harmonic`` solved at ``1 / scale`` resolution: for smooth fields (flow, seam residuals) it is
    indistinguishable and ``scale ** 2`` times cheaper. Known pixels are returned unchanged."""
    values = np.asarray(values, dtype=np.float32)
    h, w = known.shape
    if scale <= 1 or min(h, w) < 8 * scale:
        return fill_harmonic(values, known, iterations)
    size = (max(w // scale, 1), max(h // scale, 1))
    weight = known.astype(np.float32)
    weighted = values * (weight if values.ndim == 2 else weight[..., None])
    small_weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    small_values = cv2.resize(weighted, size, interpolation=cv2.INTER_AREA)
    small_known = small_weight > 0.25
    divisor = np.maximum(small_weight, 1e-6)
    small_values = small_values / (divisor if small_values.ndim == 2 else divisor[..., None])
    small_filled = fill_harmonic(small_values, small_known, iterations)
    up = cv2.resize(small_filled, (w, h), interpolation=cv2.INTER_LINEAR).reshape(values.shape)
    out = values.copy()
    out[~known] = up[~known]
    return out


def complete_flow(flow: np.ndarray, invalid: np.ndarray, iterations: int = 40) -> np.ndarray:
    """Replace the flow inside ``invalid`` (bool (h, w)) by a smooth completion from the flow around it.

    ``flow``: (h, w, 2) float32 in pixels. Returns a new array; the flow outside ``invalid`` is unchanged. (A
    homography-plus-residual completion was measured worse on the benchmark, where parallax dominates; the camera
    motion is used instead where it helps, in ``global_motion`` and ``pixel_propagation.trace_camera``.)
    """
    return fill_harmonic_coarse(flow, ~invalid, iterations)


def grow_mask(mask: np.ndarray, radius_px: int) -> np.ndarray:
    """``mask`` (bool (h, w)) dilated by a disc of ``radius_px`` pixels."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_px + 1, 2 * radius_px + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def _push_pull(field: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Weighted pyramid down (push) and up (pull): every pixel gets an average of the nearest known values."""
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    current, w = field * weight[..., None], weight
    while True:
        normalised = current / np.maximum(w, 1e-6)[..., None]
        levels.append((normalised, np.minimum(w, 1.0)))
        h, wd = w.shape
        if min(h, wd) <= _MIN_LEVEL_SIZE or w.min() > 0.999:
            break
        current = _pyr_down(current)
        w = _pyr_down(w[..., None])[..., 0] * 4.0  # summed weight (<= 4 pixels' worth), clipped above
        current = current * 4.0
    filled, _ = levels[-1]
    for normalised, confidence in reversed(levels[:-1]):
        h, wd = confidence.shape
        up = cv2.resize(filled, (wd, h), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        c = confidence[..., None]
        filled = normalised * c + up * (1.0 - c)
    return filled


def _pyr_down(array: np.ndarray) -> np.ndarray:
    """2x down-sampling with a Gaussian, keeping a trailing channel axis even for one channel."""
    out = cv2.pyrDown(array)
    return out[..., None] if out.ndim == 2 else out


def _relax(field: np.ndarray, unknown: np.ndarray, iterations: int) -> None:
    """In-place Jacobi sweeps of the Laplace equation on the unknown pixels (known ones are the boundary)."""
    ys, xs = np.nonzero(unknown)
    h, w = unknown.shape
    y0, y1 = max(int(ys.min()) - 1, 0), min(int(ys.max()) + 2, h)
    x0, x1 = max(int(xs.min()) - 1, 0), min(int(xs.max()) + 2, w)
    crop = field[y0:y1, x0:x1]
    where = np.broadcast_to(unknown[y0:y1, x0:x1, None], crop.shape)
    for _ in range(iterations):
        averaged = cv2.filter2D(crop, -1, _CROSS, borderType=cv2.BORDER_REPLICATE)
        np.copyto(crop, averaged.reshape(crop.shape), where=where)
