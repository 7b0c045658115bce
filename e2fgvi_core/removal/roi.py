"""Where in the frame a window is processed, and at what size.

A matte usually covers a small part of a 2K or 4K plate; running the model on whole frames wastes most of its time
and memory. ``--roi auto`` crops each window to the union bounding box of its local frames' (dilated) holes plus
a context margin, grown to the model's size constraint (multiples of 60 x 108 for E2FGVI-HQ, so no padding is
needed where the frame allows) and kept inside the frame; the prediction is pasted back into that rectangle.
``--proxy s`` additionally processes the crop at ``s`` times its size and upsamples the fill. The original
``e2fgvi`` model only runs at 432 x 240: it always takes the whole frame, resized (ROI does not apply).
The weight-free ``propagate`` engine also takes whole frames under ``--roi auto``: it is cheap per pixel, it needs the
background around the hole to fit the camera motion, and consecutive windows must see the same pixels for its flow
cache to hit (per-window crops made it about 2x slower); ``--proxy`` still applies.

A ``Geometry`` names all of this; its ``key`` is part of every cache key, since features computed on another crop
or size are other numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from e2fgvi_core.removal.engine_registry import ENGINES

Rect = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)``: a half-open pixel rectangle of the frame."""


@dataclass(frozen=True)
class Geometry:
    """Processing geometry of one window: the crop ``rect``, the size it is resized to, the padding multiple."""

    frame_wh: tuple[int, int]
    rect: Rect
    proc_wh: tuple[int, int]
    pad_multiple_hw: tuple[int, int] | None

    @property
    def rect_wh(self) -> tuple[int, int]:
        return (self.rect[2] - self.rect[0], self.rect[3] - self.rect[1])

    @property
    def resized(self) -> bool:
        return self.proc_wh != self.rect_wh

    @property
    def is_full_frame(self) -> bool:
        return self.rect == (0, 0, self.frame_wh[0], self.frame_wh[1])

    @property
    def key(self) -> str:
        return f"{self.frame_wh}|{self.rect}|{self.proc_wh}|{self.pad_multiple_hw}"


def union_bbox(holes: list[np.ndarray]) -> Rect | None:
    """Bounding box ``(x0, y0, x1, y1)`` of the union of (h, w) bool holes, or None when all are empty."""
    rows = None
    cols = None
    for hole in holes:
        r = hole.any(axis=1)
        c = hole.any(axis=0)
        rows = r if rows is None else rows | r
        cols = c if cols is None else cols | c
    if rows is None or not rows.any():
        return None
    y = np.flatnonzero(rows)
    x = np.flatnonzero(cols)
    return (int(x[0]), int(y[0]), int(x[-1]) + 1, int(y[-1]) + 1)


def _grow_axis(lo: int, hi: int, margin: int, unit: int, size: int) -> tuple[int, int]:
    """Grow ``[lo, hi)`` by ``margin``, round its length up to ``unit``, centre it and keep it inside ``[0, size)``."""
    lo, hi = max(0, lo - margin), min(size, hi + margin)
    length = min(size, int(math.ceil((hi - lo) / unit) * unit)) if unit > 1 else hi - lo
    start = max(0, min(size - length, lo - (length - (hi - lo)) // 2))
    return start, start + length


def plan_geometry(
    frame_wh: tuple[int, int],
    holes: list[np.ndarray],
    *,
    roi: str,
    margin: int,
    proxy: float,
    engine: str,
) -> Geometry:
    """Geometry of a window from its local frames' dilated holes, by the traits of ``engine`` (``ENGINES``)."""
    traits = ENGINES[engine]
    width, height = frame_wh
    if traits.fixed_size_wh is not None:
        return Geometry(frame_wh, (0, 0, width, height), traits.fixed_size_wh, None)
    pad = traits.pad_multiple_hw
    box = union_bbox(holes) if roi == "auto" and traits.crops_to_roi else None
    if box is None:
        rect: Rect = (0, 0, width, height)
    else:
        unit_h, unit_w = (math.ceil(m / proxy) for m in pad) if pad else (1, 1)
        x0, x1 = _grow_axis(box[0], box[2], margin, unit_w, width)
        y0, y1 = _grow_axis(box[1], box[3], margin, unit_h, height)
        rect = (x0, y0, x1, y1)
    rect_w, rect_h = rect[2] - rect[0], rect[3] - rect[1]
    proc_wh = (rect_w, rect_h) if proxy == 1.0 else (max(8, round(rect_w * proxy)), max(8, round(rect_h * proxy)))
    return Geometry(frame_wh, rect, proc_wh, pad)
