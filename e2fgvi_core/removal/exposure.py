"""Scene-linear plates into the model's [0, 1] range and back, exactly invertibly, keeping highlights.

E2FGVI was trained on display-referred video: it sees values in [0, 1] and predicts values in [0, 1]. A
scene-linear plate pushed two stops (every value x4) has most of its context above 1, which the model clipped:
the fill came back dull and clipped, a grey patch in a bright plate. So before the colour transform every float
plate of a shot is divided by one **exposure** ``s`` measured around the matte, and the fill is multiplied by ``s``
on the way out:

* ``s`` is the 99th percentile of max(R, G, B) over the ring of plate pixels just outside the (dilated) hole on the
  shot's first frame (the whole frame where the hole is empty; 1.0 where that is black). It is positively
  homogeneous, ``s(k * plate) == k * s(plate)``, so removing on ``k * plate`` is ``k *`` removing on ``plate``: the
  model sees the same numbers whatever the exposure (bit for bit when k is a power of two). It is measured on the
  *shot's* first frame, never on the frames a chunk writes, so a farm chunk and the whole run agree bit for bit.
* ``highlight_rolloff=k`` (optional) compresses normalised values above the knee ``k`` into [k, 1) before the
  colour transform, ``y = k + (1 - k) * d / (d + 1 - k)`` with ``d = x - k``, and expands them again after it, so
  the model sees highlights up to ~16x the exposure instead of clipping them at 1. Without it values above ``s``
  in the context are clipped for the model (the top 1%); pixels outside the hole are never touched either way.

Values > 1 survive in the fill: a fill of display value 1 comes back as ``s`` (or more with the roll-off).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["EXPOSURE_PERCENTILE", "ExposedColour", "measure_exposure", "rolloff", "unrolloff"]

EXPOSURE_PERCENTILE = 99.0
RING_PX = 16
_MAX_ROLLOFF_INPUT = np.float32(1.0 - 1.0 / 4096)  # display values at 1 would expand to infinity


def measure_exposure(rgb_linear: np.ndarray, hole: np.ndarray) -> float:
    """The shot's exposure from one frame: (h, w, 3) scene-linear values, (h, w) bool dilated hole."""
    hole = np.asarray(hole, dtype=bool)
    if hole.any() and not hole.all():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING_PX + 1, 2 * RING_PX + 1))
        ring = cv2.dilate(hole.astype(np.uint8), kernel).astype(bool) & ~hole
    else:
        ring = ~hole if not hole.all() else np.ones_like(hole)
    values = np.asarray(rgb_linear, dtype=np.float64)[ring].max(axis=-1)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0
    exposure = float(np.percentile(np.maximum(values, 0.0), EXPOSURE_PERCENTILE))
    return exposure if np.isfinite(exposure) and exposure > 1e-8 else 1.0


def rolloff(x: np.ndarray, knee: float) -> np.ndarray:
    """Normalised linear -> [.., 1): identity below ``knee``, a smooth compression of [knee, inf) into [knee, 1)."""
    k = np.float32(knee)
    d = np.maximum(x - k, np.float32(0))
    compressed = k + (np.float32(1) - k) * d / (d + np.float32(1) - k)
    return np.where(x > k, compressed, x).astype(np.float32)


def unrolloff(y: np.ndarray, knee: float) -> np.ndarray:
    """The inverse of ``rolloff`` on [.., 1) (inputs at or above 1 are read just below it)."""
    k = np.float32(knee)
    y = np.minimum(y, _MAX_ROLLOFF_INPUT)
    e = np.maximum(y - k, np.float32(0))
    expanded = k + (np.float32(1) - k) * e / (np.float32(1) - k - e)
    return np.where(y > k, expanded, y).astype(np.float32)


class ExposedColour:
    """A colour transform (``to_display``/``to_linear``) with the shot's exposure and roll-off around it."""

    def __init__(self, colour, exposure: float, knee: float | None = None) -> None:
        self.colour = colour
        self.exposure = np.float32(exposure)
        self.knee = knee
        self.name = f"{getattr(colour, 'name', 'colour')}/exposure {exposure:.6g}" + (
            f"/rolloff {knee}" if knee else ""
        )

    def to_display(self, rgb_linear: np.ndarray) -> np.ndarray:
        x = np.asarray(rgb_linear, dtype=np.float32) / self.exposure
        if self.knee is not None:
            x = rolloff(x, self.knee)
        return np.asarray(self.colour.to_display(x), dtype=np.float32)

    def to_linear(self, rgb_display: np.ndarray) -> np.ndarray:
        x = np.asarray(self.colour.to_linear(rgb_display), dtype=np.float32)
        if self.knee is not None:
            x = unrolloff(x, self.knee)
        return (x * self.exposure).astype(np.float32)
