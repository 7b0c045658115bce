"""Putting overlapping windows back together, exactly as the official script quantises and blends them.

A frame is local to up to three windows. ``test.py`` composites each window's prediction into the frame in uint8
(``pred.astype(uint8) * mask + frame * (1 - mask)``, so the float prediction is *truncated*), then blends with a
running 0.5 average in float32 (``comp = comp * 0.5 + img * 0.5``: weights 1/4, 1/4, 1/2 for three windows), and
truncates once more at the end. Reproducing these truncations is what makes our uint8 output match the golden
frames. ``mean`` weighs all windows equally instead. Float plates (EXR) skip both truncations: their composites
stay float32 so nothing is quantised to 8 bits on the way back to linear light.
"""

from __future__ import annotations

import numpy as np

from e2fgvi_core.errors import ConfigError


def composite_window_frame(pred: np.ndarray, frame: np.ndarray, hole: np.ndarray, quantise: bool) -> np.ndarray:
    """One window's composite of one frame.

    ``pred``: (h, w, 3) float32 display-referred in [0, 255] (``quantise``) or [0, 1]; ``frame``: (h, w, 3) uint8
    (``quantise``) or float32 display values; ``hole``: (h, w) bool, the dilated matte. Returns uint8 when
    ``quantise`` (the official truncation), else float32.
    """
    mask = hole[..., None]
    if quantise:
        return np.where(mask, pred.astype(np.uint8), frame.astype(np.uint8))
    return np.where(mask, pred.astype(np.float32), frame.astype(np.float32))


class WindowBlend:
    """Accumulates the composites of every window that outputs a frame; ``result`` gives the final frame."""

    def __init__(self, mode: str = "official", quantise: bool = True) -> None:
        if mode not in ("official", "mean"):
            raise ConfigError(f"blend must be one of official, mean; got {mode!r}")
        self.mode = mode
        self.quantise = quantise
        self._acc: dict[int, np.ndarray] = {}
        self._count: dict[int, int] = {}

    def __contains__(self, position: int) -> bool:
        return position in self._acc

    def __len__(self) -> int:
        return len(self._acc)

    def add(self, position: int, image: np.ndarray) -> None:
        """Blend one window's composite (from ``composite_window_frame``) of ``position`` in."""
        if position not in self._acc:
            # The official script stores the first composite as it is (uint8), not as float.
            self._acc[position] = image.copy() if self.mode == "official" else image.astype(np.float64)
            self._count[position] = 1
            return
        if self.mode == "official":
            self._acc[position] = self._acc[position].astype(np.float32) * 0.5 + image.astype(np.float32) * 0.5
        else:
            self._acc[position] = self._acc[position] + image.astype(np.float64)
        self._count[position] += 1

    def result(self, position: int) -> np.ndarray:
        """Final frame, removed from the accumulator: uint8 (truncated) when quantising, else float32."""
        acc = self._acc.pop(position)
        count = self._count.pop(position)
        if self.mode == "mean":
            acc = (acc / count).astype(np.float32)
        if self.quantise:
            return acc.astype(np.uint8)
        return acc.astype(np.float32)

    def blended_float(self, position: int) -> np.ndarray:
        """The accumulator as float32 without removing it (the parity case's ``comp_blended_float32``)."""
        acc = self._acc[position]
        if self.mode == "mean":
            return (acc / self._count[position]).astype(np.float32)
        return acc.astype(np.float32)
