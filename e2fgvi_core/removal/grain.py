"""``--regrain``: grain matched to the plate's around the hole, added to the fill only, as the last step of a frame.

Why: every fill (propagated, synthesised, or the model's) is softer than the plate: film grain and sensor noise do
not survive warping and blending, and a clean patch in a grainy plate is what an artist's eye finds first. Nuke
artists regrain by hand (measure the plate's grain, add matched grain to the patch); this does the same per frame.

How, per output frame (``regrain_fill``), in the plate's own values (linear light for EXR, 0..255 for 8-bit):

* **Measure** (``measure_grain``) on a ring of plate pixels around the hole (``RING_PX`` wide, ``GAP_PX`` away from
  its edge, so the removed object does not leak into it): the high-pass residual (plate minus its Gaussian blur,
  sigma ``HIGH_PASS_SIGMA``, the blur ``metrics.hole_detail`` uses) per channel; its robust standard deviation
  (1.4826 x the median absolute deviation, so an edge weighs little) in up to ``BANDS`` brightness bands
  (equal-count bands of the blurred luma).
* **Grain, not texture**: one frame cannot tell the two apart (both are high-pass detail), but grain is fresh every
  frame and texture is not. So the ring is compared with the same ring of a neighbour frame (the shot's previous
  frame; the next for the first), moved by the camera's whole-pixel pan (``pan_between``, a masked template
  search): the deviation of their difference / sqrt(2) is the grain's, and the band deviations are scaled to it
  (``GrainProfile.share``). Its lag-1 autocorrelation (how coarse the grain is) and the correlation between
  channels (how much is luma grain) are measured on that difference, where texture cancels. A one-frame shot
  takes the whole residual as grain.
* **Synthesise** (``grain_field``): white Gaussian noise, mixed across channels to the measured correlation, blurred
  per channel by the Gaussian whose width gives the measured autocorrelation (real grain is not white at pixel
  scale), scaled so its own high-pass residual has unit deviation, then by the measured deviation of the band of
  each fill pixel's brightness (interpolated between band centres).
* **Top up** (``_top_up``): a fill may carry grain already (pixels propagated from other frames). Where the plate's
  detail is mostly grain, only what lifts the fill's high-pass deviation to the plate's is added; where texture
  dominates, all the grain (the fill's texture says nothing about its grain); weighed continuously between.

Deterministic: the noise is drawn in 64-pixel tiles, each from a generator seeded by (frame number, tile position),
so a frame's grain depends on that frame alone; `--frames` subsets, farm and host chunks and cached re-runs write
the same bits as the whole run (numpy's generators are stable within a numpy version). The engine's fill and every
cache stay grain-free: this runs in ``runner.ShotRunner._finish`` just before the feathered composite, so the
feather weighs the grain as it weighs the fill, and pixels outside the hole are never touched.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "GrainProfile",
    "grain_field",
    "measure_grain",
    "pan_between",
    "regrain_fill",
    "ring_around",
    "shifted_window",
]

HIGH_PASS_SIGMA = 1.5
"""Gaussian blur (px) whose residual is "the grain" (as ``metrics.completion.HOLE_DETAIL_SIGMA``)."""
LUMA_SIGMA = 3.0
"""Blur (px) of the luma that picks a pixel's brightness band (the grain's own swing must not pick it)."""
RING_PX = 16
"""Width (px) of the ring of plate pixels around the hole where the grain is measured."""
GAP_PX = 3
"""Distance (px) between the hole's edge and the ring (the high-pass blur must not reach the removed object)."""
BANDS = 3
"""Brightness bands (grain usually grows or shrinks with exposure)."""
MIN_BAND_PIXELS = 150
"""Fewest ring pixels per band: fewer pixels, fewer bands; fewer than this in all, the whole known crop."""
MAX_GRAIN_WIDTH = 1.5
"""Widest synthetic grain (Gaussian sigma, px): a texture in the ring must not turn the grain into blotches."""
PAN_REACH_PX = 16
"""Largest camera move (px per frame, each way) found between a frame and its neighbour when measuring grain."""
TILE = 64
"""Tile size (px) of the noise; each tile is seeded by its position, so the grain never depends on the hole."""
_MARGIN = 8  # noise drawn beyond the hole's box, so the grain blur (radius <= 4 sigma + 1) sees no border there
_CLIP = 3.0  # normalised residuals clipped to +-3 before correlations (an edge is not grain)
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec. 709


@dataclass(frozen=True)
class GrainProfile:
    """The plate's grain near one hole: ``levels`` (b,) band centres of blurred luma, ascending; ``sigma`` (b, c)
    grain deviation (high-pass) per band and channel; ``width`` (c,) Gaussian sigma (px) of the synthetic grain per
    channel; ``mix`` (c, c) the channel mixing (symmetric square root of the grain's channel correlation);
    ``detail`` (c,) the plate's whole high-pass deviation there (grain and texture); ``share`` (c,) the part of it
    that changes from frame to frame (1 without a neighbour frame); ``pixels`` how many plate pixels were measured."""

    levels: np.ndarray
    sigma: np.ndarray
    width: np.ndarray
    mix: np.ndarray
    detail: np.ndarray
    share: np.ndarray
    pixels: int

    def sigma_at(self, luma: np.ndarray) -> np.ndarray:
        """(n,) blurred luma -> (n, c) deviation, interpolated between band centres (held beyond the ends)."""
        return np.stack(
            [np.interp(luma, self.levels, self.sigma[:, c]) for c in range(self.sigma.shape[1])], axis=-1
        ).astype(np.float32)


def high_pass(image: np.ndarray) -> np.ndarray:
    """(h, w, c) float32 -> the image minus its Gaussian blur (sigma ``HIGH_PASS_SIGMA``): the grain plus edges."""
    return image - _blur(image, HIGH_PASS_SIGMA)


def luma(image: np.ndarray) -> np.ndarray:
    """(h, w, c) float32 -> (h, w) blurred luma (Rec. 709 for three channels, else the mean): the band picker."""
    plain = image @ _LUMA if image.shape[-1] == 3 else image.mean(axis=-1)
    return _blur(np.ascontiguousarray(plain, dtype=np.float32), LUMA_SIGMA)


def ring_around(hole: np.ndarray, width: int = RING_PX, gap: int = GAP_PX) -> np.ndarray:
    """(h, w) bool hole -> the plate pixels more than ``gap`` and at most ``gap + width`` px from it."""
    distance = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (distance > gap) & (distance <= gap + width)


def robust_std(values: np.ndarray) -> np.ndarray:
    """(n, c) -> (c,) 1.4826 x median absolute deviation: the standard deviation of Gaussian grain, little moved by
    the few large residuals of an edge."""
    centre = np.median(values, axis=0)
    return (1.4826 * np.median(np.abs(values - centre), axis=0)).astype(np.float32)


def measure_grain(
    plate: np.ndarray, known: np.ndarray, neighbour: np.ndarray | None = None, both: np.ndarray | None = None
) -> GrainProfile | None:
    """The grain of ``plate`` (h, w, c) float32 measured on the ``known`` (h, w) bool pixels; None when fewer than
    ``MIN_BAND_PIXELS`` are known (nothing to match).

    ``neighbour``: another frame of the shot aligned to ``plate`` (same shape), valid on ``both`` pixels. Grain is
    what changes from frame to frame; the texture of the scene does not. With a neighbour, the high-pass deviation
    is scaled to its share that the two frames' difference shows (``sqrt(var(difference) / 2)``), and the grain's
    coarseness and channel correlation are measured on that difference, where the texture cancels.
    """
    residual = high_pass(plate)
    brightness = luma(plate)
    values, levels_of = residual[known], brightness[known]
    bands = min(BANDS, len(values) // MIN_BAND_PIXELS)
    if bands == 0:
        return None
    order = np.argsort(levels_of, kind="stable")
    groups = np.array_split(order, bands)
    levels = np.array([np.median(levels_of[g]) for g in groups], np.float64)
    sigma = np.stack([robust_std(values[g]) for g in groups])
    levels, keep = np.unique(levels, return_index=True)  # a flat plate: bands of one level are one band
    sigma = sigma[keep]
    channels = plate.shape[-1]
    detail = robust_std(values)
    share = np.ones(channels, np.float32)
    if neighbour is not None and both is not None and both.sum() >= MIN_BAND_PIXELS:
        field = (residual - high_pass(neighbour)) / np.float32(np.sqrt(2.0))
        where = both
        changing = robust_std(field[both])
        steady = robust_std(residual[both])
        share = np.clip(np.divide(changing, steady, out=np.ones_like(changing), where=steady > 0), 0.0, 1.0)
        field = field / np.maximum(changing, np.float32(1e-12))
    else:  # one frame: its whole high-pass residual, in unit deviation per band
        field, where = np.zeros_like(residual), known
        band_sigma = GrainProfile(levels, sigma, share, np.eye(channels), detail, share, 0).sigma_at(levels_of)
        field[known] = np.divide(values, band_sigma, out=np.zeros_like(values), where=band_sigma > 0)
    z = np.where(where[..., None], np.clip(field, -_CLIP, _CLIP), np.float32(0.0))
    pairs_x = (where[:, 1:] & where[:, :-1])[..., None]
    pairs_y = (where[1:] & where[:-1])[..., None]
    lagged = (z[:, 1:] * z[:, :-1] * pairs_x).sum(axis=(0, 1)) + (z[1:] * z[:-1] * pairs_y).sum(axis=(0, 1))
    energy = ((z[:, 1:] ** 2 + z[:, :-1] ** 2) * pairs_x).sum(axis=(0, 1)) / 2 + (
        (z[1:] ** 2 + z[:-1] ** 2) * pairs_y
    ).sum(axis=(0, 1)) / 2
    rho = np.divide(lagged, energy, out=np.zeros_like(lagged), where=energy > 0)
    width = np.array([_width_for(float(r)) for r in rho], np.float32)
    samples = z[where].astype(np.float64)
    covariance = samples.T @ samples / max(len(samples), 1)
    deviation = np.sqrt(np.maximum(np.diag(covariance), 1e-12))
    correlation = covariance / np.outer(deviation, deviation)
    return GrainProfile(levels, sigma * share, width, _sqrt_psd(correlation), detail, share, len(values))


def pan_between(
    plate: np.ndarray, known: np.ndarray, neighbour: np.ndarray, rect: tuple[int, int, int, int]
) -> tuple[int, int]:
    """The whole-pixel shift (x, y), at most ``PAN_REACH_PX`` each way, that moves the crop ``rect`` (x0, y0, x1,
    y1) of this frame, ``plate``, onto what ``neighbour`` (the whole other frame) shows there: the least squared
    difference of lightly blurred luma over the ``known`` pixels (a pan; no resampling later, which would soften
    the grain). The first best shift wins a tie, so the answer is one for a given pair of frames."""
    x0, y0, x1, y1 = rect
    height, width = neighbour.shape[:2]
    sx0, sy0 = max(x0 - PAN_REACH_PX, 0), max(y0 - PAN_REACH_PX, 0)
    sx1, sy1 = min(x1 + PAN_REACH_PX, width), min(y1 + PAN_REACH_PX, height)
    search = _pan_luma(np.nan_to_num(neighbour[sy0:sy1, sx0:sx1].astype(np.float32)))
    scores = cv2.matchTemplate(search, _pan_luma(plate), cv2.TM_SQDIFF, mask=known.astype(np.float32))
    scores = np.nan_to_num(scores, nan=np.inf)
    dy, dx = np.unravel_index(int(np.argmin(scores)), scores.shape)
    return int(sx0 + dx - x0), int(sy0 + dy - y0)


def shifted_window(
    image: np.ndarray, rect: tuple[int, int, int, int], shift: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """``image``'s window ``rect`` moved by ``shift`` (float32, zero outside the image) and where it is inside."""
    x0, y0, x1, y1 = rect
    sx, sy = shift
    height, width = image.shape[:2]
    window = np.zeros((y1 - y0, x1 - x0) + image.shape[2:], np.float32)
    inside = np.zeros((y1 - y0, x1 - x0), bool)
    ax0, ay0 = max(x0 + sx, 0), max(y0 + sy, 0)
    ax1, ay1 = min(x1 + sx, width), min(y1 + sy, height)
    if ax1 > ax0 and ay1 > ay0:
        tx, ty = ax0 - x0 - sx, ay0 - y0 - sy
        region = (slice(ty, ty + ay1 - ay0), slice(tx, tx + ax1 - ax0))
        window[region] = np.nan_to_num(image[ay0:ay1, ax0:ax1].astype(np.float32))
        inside[region] = True
    return window, inside


def grain_field(rect: tuple[int, int, int, int], profile: GrainProfile, frame: int, seed: int = 0) -> np.ndarray:
    """Synthetic grain over ``rect`` (x0, y0, x1, y1) of frame ``frame``: (y1 - y0, x1 - x0, c) float32 whose
    high-pass residual has unit deviation per channel (scale it by ``profile.sigma_at``).

    Drawn tile by tile from generators seeded by (``seed``, ``frame``, tile), so a pixel's grain does not depend
    on ``rect``, the hole or the run: only on the frame, the seed and the profile.
    """
    x0, y0, x1, y1 = rect
    channels = profile.mix.shape[0]
    gx0, gy0 = (x0 - _MARGIN) // TILE * TILE, (y0 - _MARGIN) // TILE * TILE
    gx1, gy1 = -(-(x1 + _MARGIN) // TILE) * TILE, -(-(y1 + _MARGIN) // TILE) * TILE
    key = _frame_key(frame, seed)
    white = np.empty((gy1 - gy0, gx1 - gx0, channels), np.float32)
    for ty in range(gy0 // TILE, gy1 // TILE):
        for tx in range(gx0 // TILE, gx1 // TILE):
            words = [*key, ty + (1 << 20), tx + (1 << 20)]  # non-negative: SeedSequence takes unsigned words
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))
            y, x = ty * TILE - gy0, tx * TILE - gx0
            white[y : y + TILE, x : x + TILE] = rng.standard_normal((TILE, TILE, channels), dtype=np.float32)
    mixed = white @ profile.mix.T.astype(np.float32)
    field = np.empty_like(mixed)
    for c in range(channels):
        width = float(profile.width[c])
        plane = np.ascontiguousarray(mixed[..., c])
        field[..., c] = (_blur(plane, width) if width > 0 else plane) / np.float32(np.sqrt(_residual_energy(width)))
    return field[y0 - gy0 : y1 - gy0, x0 - gx0 : x1 - gx0]


def regrain_fill(
    plate: np.ndarray,
    filled: np.ndarray,
    hole: np.ndarray,
    frame: int,
    seed: int = 0,
    neighbour: np.ndarray | None = None,
    neighbour_hole: np.ndarray | None = None,
) -> np.ndarray:
    """``filled`` with grain matched to ``plate``'s around ``hole`` added inside the hole (see the module docstring).

    ``plate``, ``filled``: (h, w, c) in the plate's native dtype (RGB channels); ``hole`` (h, w) bool.
    ``neighbour``/``neighbour_hole``: another frame of the shot (the same one for this frame in every run: the
    previous, or the next for the first) and its hole, to tell grain (changes) from texture (stays); None: one
    frame's measure. Returns ``filled``'s dtype (integers rounded and clipped); pixels outside the hole come back
    unchanged. A hole with no plate around it to measure (it covers the frame) comes back without grain.
    """
    hole = np.asarray(hole, dtype=bool)
    if not hole.any():
        return filled
    h, w = hole.shape
    ys, xs = np.nonzero(hole)
    pad = RING_PX + GAP_PX + 4 * int(np.ceil(max(HIGH_PASS_SIGMA, LUMA_SIGMA))) + 2
    cx0, cy0 = max(int(xs.min()) - pad, 0), max(int(ys.min()) - pad, 0)
    cx1, cy1 = min(int(xs.max()) + 1 + pad, w), min(int(ys.max()) + 1 + pad, h)
    crop = (slice(cy0, cy1), slice(cx0, cx1))
    plate32 = np.nan_to_num(plate[crop].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    fill32 = np.nan_to_num(filled[crop].astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    inside = hole[crop]
    outside = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > GAP_PX
    known = ring_around(inside)
    if known.sum() < MIN_BAND_PIXELS:
        known = outside
    aligned = both = None
    if neighbour is not None and neighbour.shape == plate.shape and known.sum() >= MIN_BAND_PIXELS:
        rect = (cx0, cy0, cx1, cy1)
        shift = pan_between(plate32, known, neighbour, rect)
        aligned, shown = shifted_window(neighbour, rect, shift)
        both = known & shown
        if neighbour_hole is not None:  # its own hole (the object there) and the blur's reach around it
            other, _ = shifted_window(np.asarray(neighbour_hole, np.float32), rect, shift)
            both &= cv2.distanceTransform((other == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > GAP_PX
    profile = measure_grain(plate32, known, aligned, both)
    if profile is None:
        return filled
    composite = np.where(inside[..., None], fill32, plate32)
    topup = _top_up(composite, inside, profile)
    if not (topup > 0).any():
        return filled
    bx0, by0 = int(xs.min()) - cx0, int(ys.min()) - cy0
    bx1, by1 = int(xs.max()) + 1 - cx0, int(ys.max()) + 1 - cy0
    box = (slice(by0, by1), slice(bx0, bx1))
    grain = grain_field((bx0 + cx0, by0 + cy0, bx1 + cx0, by1 + cy0), profile, frame, seed)
    where = inside[box]
    scale = profile.sigma_at(luma(composite)[box][where]) * topup
    values = fill32[box][where] + grain[where] * scale
    if np.issubdtype(filled.dtype, np.integer):
        top = np.iinfo(filled.dtype).max
        values = np.clip(np.round(values), 0, top)
    result = filled.copy()
    target = result[cy0:cy1, cx0:cx1][by0:by1, bx0:bx1]
    target[where] = values.astype(filled.dtype)
    return result


def _top_up(composite: np.ndarray, inside: np.ndarray, profile: GrainProfile) -> np.ndarray:
    """(c,) share of the grain deviation to add to the fill.

    A fill may carry grain already (pixels propagated from other frames). Where the plate's detail is mostly grain
    (``share`` near 1), that shows as the fill's high-pass deviation (measured deep inside the hole; the whole hole
    when it is thin): add only what lifts it to the plate's, ``min(grain^2, plate^2 - fill^2)``. Where texture
    dominates (``share`` small), the fill's deviation is mostly texture and that difference mostly the sampling
    noise of two textures: add all the grain. Between, the two weighed by ``share^2`` (the grain's part of the
    detail's variance), so the amount never jumps from frame to frame.
    """
    depth = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    deep = depth > GAP_PX + 2
    if deep.sum() < MIN_BAND_PIXELS:
        deep = inside
    carried = robust_std(high_pass(composite)[deep])
    grain = profile.detail * profile.share
    room = np.minimum(grain**2, np.clip(profile.detail**2 - carried**2, 0.0, None))
    weight = profile.share**2
    added = weight * room + (1.0 - weight) * grain**2
    return np.sqrt(np.divide(added, grain**2, out=np.zeros_like(added), where=grain > 0)).astype(np.float32)


def _pan_luma(image: np.ndarray) -> np.ndarray:
    """Luma blurred just enough that the grain does not steer the pan search (the texture does)."""
    plain = image @ _LUMA if image.shape[-1] == 3 else image.mean(axis=-1)
    return _blur(np.ascontiguousarray(plain, dtype=np.float32), 1.0)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _frame_key(frame: int, seed: int) -> list[int]:
    """Four 32-bit words from (seed, frame): the tiles' generators start from them."""
    digest = hashlib.sha256(f"e2fgvi regrain|{int(seed)}|{int(frame)}".encode()).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]


@functools.cache
def _kernel_response(width: float) -> tuple[float, float]:
    """(energy, lag-1 autocorrelation) of the high-pass residual of white noise blurred by sigma ``width``: how
    much of unit grain the high pass keeps, and how coarse it looks through it (the table ``_width_for`` inverts)."""
    size = 41
    impulse = np.zeros((size, size), np.float32)
    impulse[size // 2, size // 2] = 1.0
    kernel = cv2.GaussianBlur(impulse, (0, 0), width, borderType=cv2.BORDER_CONSTANT) if width > 0 else impulse
    response = kernel - cv2.GaussianBlur(kernel, (0, 0), HIGH_PASS_SIGMA, borderType=cv2.BORDER_CONSTANT)
    response = response.astype(np.float64)
    energy = float((response**2).sum())
    lagged = float((response[:, 1:] * response[:, :-1]).sum() + (response[1:] * response[:-1]).sum()) / 2
    return energy, lagged / energy


def _residual_energy(width: float) -> float:
    return _kernel_response(width)[0]


@functools.cache
def _width_table() -> tuple[np.ndarray, np.ndarray]:
    """Grain widths 0, 0.4 .. ``MAX_GRAIN_WIDTH`` px and the lag-1 autocorrelation each gives (increasing)."""
    widths = np.concatenate([[0.0], np.round(np.arange(0.4, MAX_GRAIN_WIDTH + 1e-6, 0.05), 2)])
    rhos = np.array([_kernel_response(float(w))[1] for w in widths])
    return widths, rhos


def _width_for(rho: float) -> float:
    """The grain width whose residual has lag-1 autocorrelation ``rho`` (0: white; held at the table's ends),
    rounded to 0.01 px so equal measurements give equal kernels."""
    widths, rhos = _width_table()
    if rho <= rhos[0]:
        return 0.0
    return round(float(np.interp(rho, rhos, widths)), 2)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a correlation matrix (grey plates give a singular one: no Cholesky)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
