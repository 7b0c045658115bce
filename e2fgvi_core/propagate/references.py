"""Reference (clean-plate) frames: background the artist painted at some frames, trusted where its alpha says.

Why: where no frame of the shot ever shows the background (people standing still), propagation has nothing to copy
and the spatial fill can only guess. A clean frame painted once (Photoshop, Nuke paint) is the background there:
its trusted pixels become known pixels of their frame before anything else runs, so the flow is measured on them
and flow chains and camera traces carry them to the other frames in both directions, with the engine's usual
consistency checks and carry, before any spatial fill. At the reference frame itself the output is the reference
blended over the fill by its trust.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.metrics import to_u8
from e2fgvi_core.propagate.global_motion import changed_pixels
from e2fgvi_core.propagate.harmonic import grow_mask

TRUSTED = 0.5  # trust at or above which a reference pixel counts as known background (below: blended only)
STILL_MARGIN_PX = 2  # the moving part of a reference, grown by this margin


@dataclass(frozen=True)
class Reference:
    """A clean frame: ``rgb`` (h, w, 3) float32 display-referred in [0, 1] (the plate's colour transform already
    applied) and ``trust`` (h, w) float32 in [0, 1] (the painted frame's alpha; all ones without one)."""

    rgb: np.ndarray
    trust: np.ndarray

    def __post_init__(self) -> None:
        rgb, trust = np.asarray(self.rgb), np.asarray(self.trust)
        if rgb.ndim != 3 or rgb.shape[-1] != 3:
            raise ConfigError(f"reference frame: pixels must be (h, w, 3) RGB, got shape {rgb.shape}")
        if trust.shape != rgb.shape[:2]:
            raise ConfigError(f"reference frame: trust shape {trust.shape} does not match its pixels {rgb.shape[:2]}")
        if not (np.isfinite(rgb).all() and np.isfinite(trust).all()):
            raise ConfigError("reference frame: pixels or alpha contain NaN or infinite values")
        object.__setattr__(self, "rgb", np.ascontiguousarray(np.clip(rgb, 0.0, 1.0), dtype=np.float32))
        object.__setattr__(self, "trust", np.ascontiguousarray(np.clip(trust, 0.0, 1.0), dtype=np.float32))

    @classmethod
    def from_pixels(cls, pixels: np.ndarray) -> Reference:
        """From (h, w, 3) RGB or (h, w, 4) RGBA float pixels in [0, 1]: alpha, if present, is the trust."""
        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim != 3 or pixels.shape[-1] not in (3, 4):
            raise ConfigError(f"reference frame: expected RGB or RGBA pixels, got shape {pixels.shape}")
        trust = pixels[..., 3] if pixels.shape[-1] == 4 else np.ones(pixels.shape[:2], np.float32)
        return cls(pixels[..., :3], trust)

    def crop(self, rect: tuple[int, int, int, int], size_wh: tuple[int, int] | None = None) -> Reference:
        """The part inside ``rect`` (x0, y0, x1, y1), resized to ``size_wh`` when given (the window's processing
        geometry: ROI crop and proxy), as the runner prepares the plate."""
        x0, y0, x1, y1 = rect
        rgb, trust = self.rgb[y0:y1, x0:x1], self.trust[y0:y1, x0:x1]
        if size_wh is not None and size_wh != (x1 - x0, y1 - y0):
            rgb = cv2.resize(np.ascontiguousarray(rgb), size_wh, interpolation=cv2.INTER_AREA)
            trust = cv2.resize(np.ascontiguousarray(trust), size_wh, interpolation=cv2.INTER_AREA)
        return Reference(rgb, trust)

    def digest(self) -> bytes:
        """Content digest (a cache key's part: a repainted reference is another input)."""
        h = hashlib.blake2b(digest_size=16)
        for array in (self.rgb, self.trust):
            h.update(f"{array.shape}".encode())
            h.update(array.data)
        return h.digest()


def apply_references(
    frames: np.ndarray, holes: np.ndarray, references: Mapping[int, Reference]
) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``frames`` / ``holes`` where each reference's trusted pixels inside its frame's hole are known.

    ``references`` maps indices of ``frames`` to ``Reference`` of the frames' size.
    """
    if not references:
        return frames, holes
    frames, holes = frames.copy(), holes.copy()
    for index, reference in references.items():
        if reference.rgb.shape != frames.shape[1:]:
            raise ConfigError(
                f"reference frame {index}: size {reference.rgb.shape[1]}x{reference.rgb.shape[0]} does not match"
                f" the plate's {frames.shape[2]}x{frames.shape[1]}"
            )
        known = holes[index] & (reference.trust >= TRUSTED)
        frames[index][known] = reference.rgb[known]
        holes[index] &= ~known
    return frames, holes


def blend_reference(filled: np.ndarray, hole: np.ndarray, reference: Reference) -> np.ndarray:
    """The output at a reference frame: inside the (original) ``hole``, the reference over the fill by its trust."""
    out = filled.copy()
    trust = reference.trust[hole][:, None]
    out[hole] = trust * reference.rgb[hole] + (1.0 - trust) * filled[hole]
    return out


def still_background(
    reference: np.ndarray, known: np.ndarray, target: np.ndarray, target_known: np.ndarray, matrix: np.ndarray
) -> np.ndarray:
    """Where the reference frame (``reference`` (h, w, 3) float32, its trusted pixels applied; ``known``: bool (h, w))
    shows what the frame ``target`` (``target_known``) shows there too: bool (h, w) in the reference's pixels.
    ``matrix``: positions of the reference to the target's.

    Why: a reference is trusted at its own frame, but what it shows inside the hole may be a passer-by, or people
    standing and talking who leave later (the benchmark's reference is a real frame, people included); copied into
    the frames they have left they would be ghosts, yet in the frames around the reference they are still there
    and copying them is right. So the reference is compared with each target itself where both are known
    (``global_motion.changed_pixels``): what differs seeds "moving", the rest "still", and a watershed on the
    reference's colours extends both into the hole, where only the reference shows anything; the moving part is
    grown by a margin (its edge is uncertain).
    """
    changed, compared = changed_pixels(reference, known, target, target_known, matrix)
    if not changed.any():
        return np.ones(changed.shape, bool)
    markers = np.where(compared, np.where(changed, 2, 1), 0).astype(np.int32)
    cv2.watershed(to_u8(reference), markers)
    return ~grow_mask(markers != 1, STILL_MARGIN_PX)
