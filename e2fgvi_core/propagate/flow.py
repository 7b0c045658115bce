"""Optical flow between adjacent frames of a window, measured on the masked frames and completed in the holes.

The matte's content (the object to remove) must not steer the flow, so the frames are pre-filled smoothly inside
their holes before OpenCV's DIS flow runs, and the flow in and around the holes of both frames of a pair is then
thrown away and completed from its surroundings (``harmonic``: a harmonic fill of the flow field).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any, Protocol

import cv2
import numpy as np

from e2fgvi_core.metrics import to_u8
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.propagate.global_motion import PairMotion, fit_pair_motion
from e2fgvi_core.propagate.harmonic import complete_flow, fill_harmonic_coarse, grow_mask

_SAMPLE_ROW = 1024
_MIN_FLOW_SIZE = 32  # DIS refuses images smaller than its coarsest patch grid
_DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
    "fine": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_gray_u8(frame: np.ndarray) -> np.ndarray:
    """(h, w, 3) float32 in [0, 1] -> (h, w) uint8 luma, the input DIS expects."""
    return cv2.cvtColor(to_u8(frame), cv2.COLOR_RGB2GRAY)


def prefill_gray(frame: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Luma of ``frame`` with the hole replaced by a smooth fill, so the object there does not attract the flow."""
    gray = to_gray_u8(frame)
    if not hole.any():
        return gray
    filled = fill_harmonic_coarse(gray.astype(np.float32), ~hole, iterations=10)
    return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


class SharedStore(Protocol):
    """A cache shared beyond one run (the server's ``removal.cache.ShotCache``): ``get`` / ``put`` by kind and key."""

    def get(self, kind: str, key: str) -> Any | None: ...

    def put(self, kind: str, key: str, value: Any) -> None: ...


class FlowEstimator:
    """Completed forward and backward flows of adjacent frame pairs, with a bounded cache keyed by content.

    The runner hands overlapping windows to the inpainter; a pair of frames (and their holes) seen in the previous
    window gives the same flows, so they are looked up by a hash of the pixels instead of being recomputed.
    ``store`` (optional): a cache shared between runs (the server's), asked for a pair this instance has not kept;
    its key adds the settings the flows depend on, so a hit is the very flow a fresh computation gives.
    """

    def __init__(self, config: PropagateConfig, store: SharedStore | None = None) -> None:
        self.config = config
        self.store = store
        self._store_prefix = (
            f"propagate-flow|{cv2.__version__}|{config.flow_preset}|{config.flow_mask_dilation_px}"
            f"|{config.flow_smoothing_iterations}|"
        )
        self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[config.flow_preset])
        if config.flow_preset == "fine":
            self._dis.setFinestScale(0)
        self._cache: OrderedDict[bytes, tuple[np.ndarray, np.ndarray, PairMotion]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def pair_flows(
        self,
        frame_a: np.ndarray,
        hole_a: np.ndarray,
        frame_b: np.ndarray,
        hole_b: np.ndarray,
        key: bytes | None = None,
        grays: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, PairMotion]:
        """Return ``(flow a->b, flow b->a, motion)``: flows (h, w, 2) float32 in pixels, completed inside the holes,
        and the pair's camera motion fitted to the measured flow (``global_motion.PairMotion``).

        ``key`` (content digest of the pair) and ``grays`` (the pre-filled lumas) may be passed when already known.
        """
        if key is None:
            key = frame_digest(frame_a, hole_a) + frame_digest(frame_b, hole_b)
        cached = self._lookup(key)
        if cached is not None:
            return cached
        return self._compute(key, frame_a, hole_a, frame_b, hole_b, grays)

    def _lookup(self, key: bytes) -> tuple[np.ndarray, np.ndarray, PairMotion] | None:
        """The pair's flows from this instance's cache or the shared store, or None (counted as a hit or a miss)."""
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
        elif self.store is not None:
            stored = self.store.get("flows", self._store_prefix + key.hex())
            if stored is not None:
                forward, backward, homography, moving_a, moving_b = stored
                cached = (forward, backward, PairMotion(homography, moving_a, moving_b))
                self._keep(key, cached)
        if cached is None:
            self.misses += 1
        else:
            self.hits += 1
        return cached

    def _compute(
        self,
        key: bytes,
        frame_a: np.ndarray,
        hole_a: np.ndarray,
        frame_b: np.ndarray,
        hole_b: np.ndarray,
        grays: tuple[np.ndarray, np.ndarray] | None,
    ) -> tuple[np.ndarray, np.ndarray, PairMotion]:
        gray_a, gray_b = grays if grays is not None else (prefill_gray(frame_a, hole_a), prefill_gray(frame_b, hole_b))
        forward, backward = self._measure(gray_a, gray_b)
        # Both flows of the pair are distrusted wherever either frame has a hole: a visible pixel of one frame that
        # lands in the other's hole was matched against the pre-fill, not against the surface behind it.
        invalid = hole_a | hole_b
        if invalid.any():
            invalid = self._grow(invalid)
        motion = fit_pair_motion(forward, backward, ~invalid)
        if invalid.any():
            iterations = self.config.flow_smoothing_iterations
            forward = complete_flow(forward, invalid, iterations)
            backward = complete_flow(backward, invalid, iterations)
        result = (forward, backward, motion)
        _freeze(forward, backward, motion.homography, motion.moving_a, motion.moving_b)
        if self.store is not None:
            # As a tuple of arrays, so the store counts every byte against its budget.
            stored = (forward, backward, motion.homography, motion.moving_a, motion.moving_b)
            self.store.put("flows", self._store_prefix + key.hex(), stored)
        self._keep(key, result)
        return result

    def _keep(self, key: bytes, result: tuple[np.ndarray, np.ndarray, PairMotion]) -> None:
        if self.config.flow_cache_pairs > 0:
            self._cache[key] = result
            while len(self._cache) > self.config.flow_cache_pairs:
                self._cache.popitem(last=False)

    def _measure(self, gray_a: np.ndarray, gray_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """DIS flows a -> b and b -> a; tiny images (ROI crops) are padded to the size DIS accepts, then cropped."""
        h, w = gray_a.shape
        pad_y, pad_x = max(_MIN_FLOW_SIZE - h, 0), max(_MIN_FLOW_SIZE - w, 0)
        if pad_y or pad_x:
            gray_a = cv2.copyMakeBorder(gray_a, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
            gray_b = cv2.copyMakeBorder(gray_b, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE)
        forward = self._dis.calc(gray_a, gray_b, None)[:h, :w]
        backward = self._dis.calc(gray_b, gray_a, None)[:h, :w]
        return np.ascontiguousarray(forward), np.ascontiguousarray(backward)

    def _grow(self, hole: np.ndarray) -> np.ndarray:
        radius = self.config.flow_mask_dilation_px
        return grow_mask(hole, radius) if radius > 0 else hole

    def window_flows(
        self, frames: np.ndarray, holes: np.ndarray, digests: list[bytes] | None = None
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[PairMotion]]:
        """Flows of every adjacent pair of the window: ``forward[k]`` is k -> k+1, ``backward[k]`` is k+1 -> k,
        ``motions[k]`` the pair's camera motion. ``digests``: the frames' ``frame_digest`` when the caller has them.

        Afterwards the cache holds only this window's pairs: windows slide forward, so older pairs are not asked
        for again, and the memory held between calls stays one window's worth of flows.
        """
        if digests is None:
            digests = [frame_digest(frame, hole) for frame, hole in zip(frames, holes)]
        grays: dict[int, np.ndarray] = {}

        def gray(k: int) -> np.ndarray:
            if k not in grays:
                grays[k] = prefill_gray(frames[k], holes[k])
            return grays[k]

        forward, backward, motions, keys = [], [], [], []
        for k in range(len(frames) - 1):
            keys.append(digests[k] + digests[k + 1])
            found = self._lookup(keys[-1])
            if found is None:
                pair = (gray(k), gray(k + 1))
                found = self._compute(keys[-1], frames[k], holes[k], frames[k + 1], holes[k + 1], pair)
            f, b, m = found
            forward.append(f)
            backward.append(b)
            motions.append(m)
        wanted = set(keys)
        for key in [key for key in self._cache if key not in wanted]:
            del self._cache[key]
        return forward, backward, motions

    def clear(self) -> None:
        """Forget cached flows (e.g. between shots)."""
        self._cache.clear()


def _freeze(*arrays: np.ndarray | None) -> None:
    """Make a pair's cached arrays read-only: windows in this run and later runs (the shared store) are handed the
    very same arrays, so a change by one reader would be a wrong value for the next."""
    for array in arrays:
        if array is not None:
            array.flags.writeable = False


def frame_digest(frame: np.ndarray, hole: np.ndarray) -> bytes:
    """Content digest of one frame and its hole (shape included), the half of a pair's cache key."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (frame, hole):
        contiguous = np.ascontiguousarray(array)
        digest.update(f"{contiguous.shape}{contiguous.dtype}".encode())
        digest.update(contiguous.data)
    return digest.digest()


_KERNELS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}


def sample_colour(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, kernel: str) -> np.ndarray:
    """Colours of ``image`` (h, w, 3) at float positions (clamped into it) with ``kernel`` (``PropagateConfig``'s
    ``resample_kernel``); returns (n, 3) float32.

    Why: a bilinear sample half a pixel off keeps only about half of the fine detail, and every propagated pixel is
    such a sample. Bicubic and Lanczos keep it, but overshoot at edges (dark and bright halos): each sample is
    clamped to the range of the 2x2 pixels around it, which a bilinear sample can never leave either.
    """
    h, w = image.shape[:2]
    xs = np.clip(xs, 0, w - 1).astype(np.float32)
    ys = np.clip(ys, 0, h - 1).astype(np.float32)
    if kernel == "linear":
        return sample(image, xs, ys)
    values = sample(image, xs, ys, interpolation=_KERNELS[kernel], border=cv2.BORDER_REFLECT_101)
    # min / max of the 2x2 pixels whose top-left one is (floor x, floor y), gathered at the samples only (a trace
    # step samples a few hundred points of a frame: a min / max filter over the whole frame would cost more); on the
    # last row and column the block is the pixel's own. Positions are >= 0 here, so truncation floors them; a
    # non-finite one (its sample is the border value) is bounded by pixel 0's block.
    x0 = np.where(np.isfinite(xs), xs, 0).astype(np.intp)
    y0 = np.where(np.isfinite(ys), ys, 0).astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    pixels = image.reshape(h * w, -1)
    corners = [pixels[y * w + x] for y, x in ((y0, x0), (y0, x1), (y1, x0), (y1, x1))]
    low = np.minimum(np.minimum(corners[0], corners[1]), np.minimum(corners[2], corners[3]))
    high = np.maximum(np.maximum(corners[0], corners[1]), np.maximum(corners[2], corners[3]))
    return np.minimum(np.maximum(values, low), high)


def sample(
    image: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    border_value: float = 0.0,
    interpolation: int = cv2.INTER_LINEAR,
    border: int = cv2.BORDER_CONSTANT,
) -> np.ndarray:
    """Bilinear samples of ``image`` (h, w[, c]) at float positions; returns (n[, c]) float32.

    The points are laid out as rows of ``_SAMPLE_ROW`` so ``cv2.remap`` (whose maps must stay under 32767 on each
    side) handles any number of them in one call.
    """
    n = xs.size
    rows = max(1, -(-n // _SAMPLE_ROW))
    map_x = np.full(rows * _SAMPLE_ROW, -1e4, dtype=np.float32)
    map_y = np.full(rows * _SAMPLE_ROW, -1e4, dtype=np.float32)
    map_x[:n] = xs
    map_y[:n] = ys
    out = cv2.remap(
        image,
        map_x.reshape(rows, _SAMPLE_ROW),
        map_y.reshape(rows, _SAMPLE_ROW),
        interpolation=interpolation,
        borderMode=border,
        borderValue=border_value,
    )
    channels = out.shape[2:] if out.ndim == 3 else ()
    return out.reshape(rows * _SAMPLE_ROW, *channels)[:n]
