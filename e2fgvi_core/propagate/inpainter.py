"""The weight-free ``propagate`` engine: classical flow-guided video completion on the CPU.

A fresh install has no E2FGVI checkpoint, yet an artist still wants a fast preview and often a usable result.
Most of what hides behind a moving object, or behind a static matte under a moving camera, is visible in nearby
frames: we estimate optical flow between adjacent frames (OpenCV DIS on the masked frames), complete it smoothly
inside the holes, follow flow chains from every hole pixel to the nearest frames that saw the point (both
directions, forward-backward checked), blend those colours, correct seams, and paint what no frame saw with
OpenCV inpainting. Background that moves with the camera is fetched along per-pair homographies instead
(``global_motion``): no drift in large holes, and moving foreground is never copied in. numpy + OpenCV only: no
torch, no weights.

Contract (docs/architecture.md): ``PropagateInpainter(config).fill(frames, holes, targets)``; the engine runner
does colour conversion, matte dilation, compositing and I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from e2fgvi_core.errors import ConfigError, MatteError, SequenceError
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.propagate.flow import FlowEstimator, SharedStore, frame_digest, sample, sample_colour
from e2fgvi_core.propagate.global_motion import PairMotion, compose_motion, refine_homography, transform_points
from e2fgvi_core.propagate.harmonic import grow_mask
from e2fgvi_core.propagate.pixel_propagation import blend_candidates, camera_deviation, trace_camera, trace_direction
from e2fgvi_core.propagate.references import Reference, apply_references, blend_reference, still_background
from e2fgvi_core.propagate.spatial_fill import add_detail, correct_seams, detail_band, inpaint_spatial

_SEAM_RING_PX = 2
# Over how many frames before a carry restart the carried fill hands over to the restart's
# (``PropagateInpainter._towards_key``; ``context_frames`` where that is fewer).
_HANDOVER_FRAMES = 20
# A reference whose colours on a target's hole border differ from the target's by more than this (median of the
# largest channel) is not fetched from directly for that target (a wrong camera motion, a change of light).
_REFERENCE_MISMATCH = 0.1


@dataclass(frozen=True)
class _Span:
    """The frames within reach of the targets and what every fill step reads of them.

    ``frames`` (t, h, w, 3) float32, ``holes`` bool and ``holes_f32`` (t, h, w), ``forward[k]`` / ``backward[k]``
    the completed flows k -> k+1 / k+1 -> k, ``motions[k]`` the pair's camera motion, ``reach`` how many frames a
    trace may step (``context_frames``, or the whole span when it holds reference frames, so that they reach every
    target), ``trusted`` by the reference frames' span indices the bool (h, w) map of their trusted pixels inside
    the hole (None without references).
    """

    frames: np.ndarray
    holes: np.ndarray
    holes_f32: np.ndarray
    forward: list[np.ndarray]
    backward: list[np.ndarray]
    motions: list[PairMotion]
    reach: int
    trusted: dict[int, np.ndarray] | None = None


@dataclass(frozen=True)
class _ReferenceView:
    """What the reference frames give one target (``PropagateInpainter._reference_view``), by their span indices:
    ``matrices`` the homography target -> reference aligned directly, ``usable`` float32 (h, w) maps of where the
    reference is known and shows what the target shows (1 there), ``moving`` float32 maps of its trusted pixels that
    do not (1 there: not to be fetched into this target)."""

    matrices: dict[int, np.ndarray]
    usable: dict[int, np.ndarray]
    moving: dict[int, np.ndarray]


class PropagateInpainter:
    """Fills holes of display-referred frames from other frames of the window, then spatially.

    ``context_frames``: how many frames on each side of a target ``fill`` uses; the runner streams windows of
    ``2 * context_frames + 1`` frames, so memory stays bounded by the window. Flows of frame pairs are cached
    (bounded by ``config.flow_cache_pairs``) so overlapping windows do not recompute them. The output of the frame
    filled last is kept too: when the next target is the frame after it (same content), what no frame shows is
    blended with it carried along the flow (``config.temporal_spatial_fill``), so one instance should fill one shot
    in frame order (the runner makes one per job).
    """

    name = "propagate"

    def __init__(self, config: PropagateConfig | None = None, store: SharedStore | None = None) -> None:
        self.config = config or PropagateConfig()
        self.flows = FlowEstimator(self.config, store)
        # The last filled frame (content digest of its input and hole, and its output): what no frame shows is
        # painted once and then carried along the flow, so a spatial fill does not flicker from frame to frame.
        self._previous: tuple[bytes, np.ndarray] | None = None

    @property
    def context_frames(self) -> int:
        return self.config.context_frames

    @property
    def carry(self) -> tuple[bytes, np.ndarray] | None:
        """What the next ``fill`` may carry from: ``(frame_digest of the frame filled last, its output)`` or None.

        A caller that caches whole windows (``removal.engines.PropagateEngine``) keys them by it and sets it back
        after a cache hit, so the frame after the window carries from the very output an uncached run made.
        """
        return self._previous

    @carry.setter
    def carry(self, value: tuple[bytes, np.ndarray] | None) -> None:
        self._previous = value

    def fill(
        self,
        frames: np.ndarray,
        holes: np.ndarray,
        targets: Sequence[int],
        restarts: Collection[int] = (),
        references: Mapping[int, Reference] | None = None,
        digests: Sequence[bytes] | None = None,
    ) -> np.ndarray:
        """Return the filled target frames.

        ``frames``: float32 (t, h, w, 3) display-referred in [0, 1]; ``holes``: bool (t, h, w), already dilated;
        ``targets``: indices into ``t`` to produce; ``restarts``: the indices where the carry restarts (the runner
        restarts it at fixed shot positions, so a chunk can reproduce a whole run): a target among them takes
        nothing from the frame filled before it, and the targets before one hand their carried fill over to its
        fresh one (``_towards_key``), so give every restart the window holds, targets or not;
        ``references``: clean frames by index into ``t`` (``references.Reference``, the frames' size): their trusted
        pixels are known background of their frame, carried to the others like any visible pixel; at that frame the
        output inside the hole is the reference over the fill by its trust; ``digests``: ``flow.frame_digest`` of
        each frame and hole as given, when the caller knows them (overlapping windows share frames: each is hashed
        once per run).
        Returns float32 (len(targets), h, w, 3) in [0, 1]; pixels outside a target's hole are the input's.
        """
        frames, holes, targets = _validate(frames, holes, targets)
        references = {int(k): v for k, v in (references or {}).items()}
        bad = sorted(k for k in references if not 0 <= k < frames.shape[0])
        if bad:
            raise ConfigError(f"propagate fill: reference indices {bad} outside the window 0..{frames.shape[0] - 1}")
        original_holes = holes
        frames, holes = apply_references(frames, holes, references)
        known = {} if digests is None else {k: d for k, d in enumerate(digests) if k not in references}

        def digest(k: int) -> bytes:  # a reference changes its frame's pixels and hole: hashed as it is now
            if k not in known:
                known[k] = frame_digest(frames[k], holes[k])
            return known[k]

        restarts = {int(i) for i in restarts}
        t, h, w = holes.shape
        out = np.empty((len(targets), h, w, 3), dtype=np.float32)
        needed = [i for i in targets if holes[i].any()]
        # Only the frames within reach of some target that needs filling take part.
        lo = max(min(needed) - self.context_frames, 0) if needed else 0
        hi = min(max(needed) + self.context_frames, t - 1) if needed else -1
        if needed and references:
            # Reference frames are always within reach (a window holds them beside its own frames, however far).
            lo, hi = min(lo, *references), max(hi, *references)
        digests = [digest(k) for k in range(lo, hi + 1)]
        reach = max(self.context_frames, hi - lo) if references else self.context_frames
        trusted = {k - lo: original_holes[k] & ~holes[k] for k in references if lo <= k <= hi}
        span = self._span(frames[lo : hi + 1], holes[lo : hi + 1], digests, reach, trusted) if needed else None
        analyses: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # of key frames ahead, by span index
        for j, i in enumerate(targets):
            if span is not None and holes[i].any():
                previous = None if i in restarts else self._previous_output(digests, i - lo)
                out[j] = self._fill_one(
                    span, i - lo, previous, _upcoming(restarts, holes, i, lo, hi, self.context_frames), analyses
                )
            else:
                out[j] = frames[i]
            if i in references and original_holes[i].any():
                out[j] = blend_reference(out[j], original_holes[i], references[i])
            self._previous = (digest(i), out[j].copy())
        return out

    def _span(
        self, frames: np.ndarray, holes: np.ndarray, digests: list[bytes], reach: int, trusted: dict[int, np.ndarray]
    ) -> _Span:
        """``trusted``: span index -> the reference pixels that became known there. Camera traces take them as
        background (whatever the flow measured on them against a neighbour's pre-filled hole flagged), except where
        a target does not show what the reference shows (``_reference_view``). Flow chains follow the motion itself,
        passers-by included."""
        forward, backward, motions = self.flows.window_flows(frames, holes, digests)
        motions = list(motions)  # the cached PairMotion objects are shared: replaced, never changed
        for k, known in sorted(trusted.items()):
            if k < len(motions):
                m = motions[k]
                motions[k] = PairMotion(m.homography, m.moving_a & ~known, m.moving_b)
            if k >= 1:
                m = motions[k - 1]
                motions[k - 1] = PairMotion(m.homography, m.moving_a, m.moving_b & ~known)
        holes_f32 = holes.astype(np.float32)
        return _Span(frames, holes, holes_f32, forward, backward, motions, reach, trusted or None)

    def _reference_view(self, span: _Span, target: int) -> _ReferenceView:
        """What each reference frame of ``span`` gives ``target``: the direct alignment and the still/moving split.

        Why per target: the split says which of the reference's pixels the target shows too; people standing in
        the reference are still there a few frames away (copying them is right) and gone thirty frames later
        (copying them would leave ghosts). Why aligned directly: composed over many pairs, the camera motion drifts
        by a pixel or two, which turns the reference's fine texture into noise (``refine_homography``)."""
        matrices, usable, moving = {}, {}, {}
        known_target = ~span.holes[target]
        for k, trusted in sorted((span.trusted or {}).items()):
            chain = None if k == target else compose_motion(span.motions, target, k)
            if chain is None:
                continue
            known = ~span.holes[k]
            matrices[k] = refine_homography(span.frames[target], known_target, span.frames[k], known, chain)
            back = np.linalg.inv(matrices[k])
            still = still_background(span.frames[k], known, span.frames[target], known_target, back)
            usable[k] = (still & known).astype(np.float32)
            moving[k] = (trusted & ~still).astype(np.float32)
        return _ReferenceView(matrices, usable, moving)

    def _previous_output(self, digests: list[bytes], target: int) -> np.ndarray | None:
        """This engine's output for the frame before ``target`` (``digests``: the span's frame digests), if that is
        the frame it filled last."""
        if self._previous is None or target < 1:
            return None
        digest, output = self._previous
        return output if digest == digests[target - 1] else None

    def _fill_one(
        self,
        span: _Span,
        target: int,
        previous: np.ndarray | None,
        upcoming: int | None = None,
        analyses: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """The output of ``target``: its analysis (what the other frames and the spatial fill give), then the
        temporal carry from ``previous`` (``upcoming``: see ``_finish``; ``analyses``: key frames' analyses made so far
        in this ``fill``, by span index, reused)."""
        analyses = {} if analyses is None else analyses
        if target in analyses:
            analysis = tuple(a.copy() for a in analyses.pop(target))
        else:
            analysis = self._analyse(span, target)
        return self._finish(span, target, analysis, previous, upcoming, analyses)

    def _towards_key(
        self,
        span: _Span,
        target: int,
        key: int,
        unknown: np.ndarray,
        painted: np.ndarray,
        analyses: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None,
    ) -> np.ndarray:
        """The carried fill of ``target``'s ``unknown`` pixels (``painted``) moved ``1 / (key - target + 1)`` of the
        way to what the key frame ``key`` ahead (a carry restart) will show there: its fill with no carry (its
        ``_analyse`` image, painted, with detail copied from beside its hole), fetched along the composed camera
        motion where that lands in the key frame's hole.

        Why: the carry restarts so that a chunk of frames can reproduce a whole run, and a restart swaps the carried
        paint and detail for fresh ones between two frames, a visible jump (``tests/propagate/test_detail.py::
        test_a_carry_restart_hands_over_instead_of_jumping`` measures it). Handed over a share a frame, the restart's
        fill arrives linearly over ``_HANDOVER_FRAMES`` frames. It reads only the key frame, which lies within
        the target's window (no farther than ``context_frames``), so a chunk computes what a whole run
        does; the key frame's analysis is made once per ``fill`` (``analyses``) and reused when it is a target.
        """
        matrix = compose_motion(span.motions, target, key)
        if matrix is None:
            return painted
        ys, xs = np.nonzero(unknown)
        qx, qy = transform_points(matrix, xs, ys)
        inside = sample(span.holes_f32[key], qx, qy) >= 1.0 - 1e-3
        if not inside.any():
            return painted
        analyses = {} if analyses is None else analyses
        if key not in analyses:
            analyses[key] = self._analyse(span, key)
        _, key_unknown, key_painted = analyses[key]
        key_fill = add_detail(key_painted, key_unknown, span.frames[key], span.holes[key], self.config.spatial_detail)
        fetched = sample_colour(key_fill, qx[inside], qy[inside], self.config.resample_kernel)
        out = painted.copy()
        yi, xi = ys[inside], xs[inside]
        out[yi, xi] += np.float32(1.0 / (key - target + 1)) * (fetched - painted[yi, xi])
        return out

    def _analyse(self, span: _Span, target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the fill of ``target`` takes from the other frames and the spatial fill, before the carry:
        ``(image, unknown, painted)`` (the propagated image, the hole pixels no frame showed, and the image with
        those painted). It depends on the span only, not on the carry."""
        cfg = self.config
        hole = span.holes[target]
        ring = grow_mask(hole, _SEAM_RING_PX) & ~hole if cfg.seam_correction else np.zeros_like(hole)
        image = span.frames[target].copy()
        filled = np.zeros_like(hole)
        chained = hole
        # With references: how many frames away each filled pixel's nearest source is (the reference wins over
        # farther ones only).
        view = self._reference_view(span, target) if span.trusted else None
        nearest = np.zeros(hole.shape, np.int32) if view is not None else None
        if cfg.camera_motion_px > 0:
            image, filled, chained = self._fill_from_camera(span, target, ring, image, nearest, view)
        if chained.any():
            image = self._fill_from_chains(span, target, chained, ring, image, filled, nearest)
        if view is not None:
            image = self._fill_from_references(span, target, ring, image, filled, nearest, view)
        unknown = hole & ~filled
        painted = inpaint_spatial(image, unknown, cfg.spatial_method, cfg.spatial_radius_px)
        return image, unknown, painted

    def _finish(
        self,
        span: _Span,
        target: int,
        analysis: tuple[np.ndarray, np.ndarray, np.ndarray],
        previous: np.ndarray | None,
        upcoming: int | None = None,
        analyses: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """The output of ``target`` from its ``_analyse`` result (whose arrays it may change) and the carry;
        ``upcoming``: the span index of the carry restart ahead that the carried fill hands over to
        (``_towards_key``), or None; ``analyses``: see ``_fill_one``."""
        cfg = self.config
        hole = span.holes[target]
        image, unknown, painted = analysis
        weight = cfg.temporal_spatial_fill
        carries = previous is not None and weight > 0 and unknown.any()
        if not carries:
            # A key frame (the carry restarts, or nothing to carry from): detail copied from beside the hole.
            painted = add_detail(painted, unknown, span.frames[target], hole, cfg.spatial_detail)
        if carries:
            carried = _carry_previous(
                image,
                unknown,
                previous,
                span.backward[target - 1],
                span.motions[target - 1].homography,
                cfg.camera_motion_px,
                cfg.seam_correction,
                cfg.resample_kernel,
            )
            if cfg.spatial_detail > 0:
                # The detail travels with the carry whole (the blend below would fade it by ``weight`` a frame, and
                # detail synthesised anew every frame would flicker): the new paint takes the carried detail band.
                painted[unknown] += detail_band(carried)[unknown]
            painted[unknown] = weight * carried[unknown] + (1.0 - weight) * painted[unknown]
            if upcoming is not None:
                painted = self._towards_key(span, target, upcoming, unknown, painted, analyses)
        image = painted
        result = span.frames[target].copy()  # outside the hole: the input, untouched (even out-of-range values)
        result[hole] = np.clip(image[hole], 0.0, 1.0)
        return result

    def _fill_from_chains(
        self,
        span: _Span,
        target: int,
        chained: np.ndarray,
        ring: np.ndarray,
        image: np.ndarray,
        filled: np.ndarray,
        nearest: np.ndarray | None = None,
    ) -> np.ndarray:
        """Colour the ``chained`` pixels from flow chains (both directions); updates ``filled`` (and ``nearest``,
        the distance in frames to the nearer first hit, where given) in place.

        The ring around the hole is traced too: the difference between its true and propagated colours is the seam
        residual diffused into the propagated pixels.
        """
        cfg = self.config
        ys, xs = np.nonzero(chained | ring)
        traced = [
            trace_direction(
                span.frames,
                span.holes_f32,
                span.forward,
                span.backward,
                target,
                xs,
                ys,
                step,
                span.reach,
                cfg.consistency_px,
                cfg.consistency_ratio,
                cfg.candidates_per_direction,
                cfg.resample_kernel,
            )
            for step in (+1, -1)
        ]
        colours, found = blend_candidates(*traced)
        in_chained = chained[ys, xs]
        hit = in_chained & found
        if not hit.any():
            return image
        propagated = np.zeros_like(chained)
        propagated[ys[hit], xs[hit]] = True
        image[ys[hit], xs[hit]] = colours[hit]
        filled |= propagated
        if nearest is not None:
            ahead, behind = traced[0].distance[hit], traced[1].distance[hit]
            # The nearer of the two first hits (0: none that way).
            nearest[ys[hit], xs[hit]] = np.where((ahead > 0) & ((behind == 0) | (ahead < behind)), ahead, behind)
        ring_hit = ~in_chained & found & ring[ys, xs]
        if cfg.seam_correction and ring_hit.any():
            image = _correct_from_ring(
                image, propagated, span.frames[target], ys[ring_hit], xs[ring_hit], colours[ring_hit]
            )
        return image

    def _fill_from_references(
        self,
        span: _Span,
        target: int,
        ring: np.ndarray,
        image: np.ndarray,
        filled: np.ndarray,
        nearest: np.ndarray,
        view: _ReferenceView,
    ) -> np.ndarray:
        """Colour hole pixels straight from the reference frames along the camera motion (``view``: aligned
        directly); updates ``filled`` in place. ``nearest``: for the filled pixels, how many frames away their
        nearest source is.

        Why: a reference is the truth at its frame; carried by flow chains and camera traces through the frames in
        between it picks up their drift and their foreground, and its pixels arrive by other routes at every frame
        (the fill jitters). Fetched directly, each hole pixel whose completed flow follows the camera takes the
        reference's colour where the reference shows what the target shows (``view.usable``), nearest
        reference first, over the spatial fill and over what camera traces and flow chains fetched from farther
        frames (a nearer frame shows the present better: light, passers-by). The check: the
        reference's colours on the hole's border must match the target's (median difference at most
        ``_REFERENCE_MISMATCH``); the remaining difference is diffused into the fetched pixels (seam correction).
        """
        cfg = self.config
        hole = span.holes[target]
        hy, hx = np.nonzero(hole)
        if cfg.camera_motion_px <= 0 or hy.size == 0:
            return image
        pending = camera_deviation(hx, hy, target, span.forward, span.backward, span.motions) <= cfg.camera_motion_px
        seen_at = np.where(filled[hy, hx] & (nearest[hy, hx] > 0), nearest[hy, hx], np.iinfo(np.int32).max)
        ry, rx = np.nonzero(ring)
        truth = span.frames[target]
        for k in sorted(view.matrices, key=lambda k: abs(k - target)):
            matrix, usable = view.matrices[k], view.usable[k]
            index = np.nonzero(pending & (seen_at > abs(k - target)))[0]
            if not index.size:
                continue
            qx, qy = transform_points(matrix, hx[index], hy[index])
            use = sample(usable, qx, qy) >= 1.0 - 1e-3
            if not use.any():
                continue
            border = np.zeros(0, bool)
            if ry.size:
                bx, by = transform_points(matrix, rx, ry)
                border = sample(usable, bx, by) >= 1.0 - 1e-3
            if border.any():
                colours = sample_colour(span.frames[k], bx[border], by[border], cfg.resample_kernel)
                mismatch = np.abs(truth[ry[border], rx[border]] - colours).max(axis=-1)
                if float(np.median(mismatch)) > _REFERENCE_MISMATCH:
                    continue
            taken = np.zeros_like(hole)
            taken[hy[index[use]], hx[index[use]]] = True
            image[hy[index[use]], hx[index[use]]] = sample_colour(span.frames[k], qx[use], qy[use], cfg.resample_kernel)
            if cfg.seam_correction and border.any():
                image = _correct_from_ring(image, taken, truth, ry[border], rx[border], colours)
            filled |= taken
            pending[index[use]] = False
        return image

    def _fill_from_camera(
        self,
        span: _Span,
        target: int,
        ring: np.ndarray,
        image: np.ndarray,
        nearest: np.ndarray | None = None,
        view: _ReferenceView | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Colour hole pixels from the frames along the camera motion; returns ``(image, filled, chained)``; sets
        ``nearest`` (where given) of the pixels it colours to the distance in frames to their nearer source.

        Where the completed flow follows the camera, the camera-guided colour is used (flow chains drift in large
        holes). Where the camera motion is known but no frame of the window shows the point as static background, a
        flow chain's colour could only come from something moving (a ghost of a passer-by): the pixel is left to
        the spatial fill. The rest (the flow departs from the camera motion: the hole covers something moving on
        its own, or no camera motion was fitted) is left to the flow chains: ``chained``. Camera-guided pixels get
        their own seam correction from the ring.
        """
        cfg = self.config
        hole = span.holes[target]
        hy, hx = np.nonzero(hole)
        deviation = camera_deviation(hx, hy, target, span.forward, span.backward, span.motions)
        ry, rx = np.nonzero(ring)
        qy, qx = np.concatenate([hy, ry]), np.concatenate([hx, rx])
        distance = np.zeros(qx.size, np.int32) if nearest is not None else None
        camera, seen = trace_camera(
            span.frames,
            span.holes_f32,
            span.motions,
            target,
            qx,
            qy,
            span.reach,
            cfg.resample_kernel,
            distance,
            view.moving if view is not None else None,
            view.matrices if view is not None else None,
        )
        n = hy.size
        follows = deviation <= cfg.camera_motion_px
        use = seen[:n] & follows
        rest = ~follows & (seen[:n] | ~np.isfinite(deviation))
        chained = np.zeros_like(hole)
        chained[hy[rest], hx[rest]] = True
        guided = np.zeros_like(hole)
        if not use.any():
            return image, guided, chained
        guided[hy[use], hx[use]] = True
        image[hy[use], hx[use]] = camera[:n][use]
        if nearest is not None:
            nearest[hy[use], hx[use]] = distance[:n][use]
        ring_seen = seen[n:]
        if cfg.seam_correction and ring_seen.any():
            image = _correct_from_ring(
                image, guided, span.frames[target], ry[ring_seen], rx[ring_seen], camera[n:][ring_seen]
            )
        return image, guided, chained


def _upcoming(restarts: Collection[int], holes: np.ndarray, target: int, lo: int, hi: int, context: int) -> int | None:
    """The span index (window index - ``lo``) of the first carry restart (window indices) after ``target`` within
    ``_HANDOVER_FRAMES`` (at most ``context``: the window reads that far) that lies in ``lo..hi`` and has a hole,
    or None."""
    last = min(target + min(_HANDOVER_FRAMES, context), hi)
    ahead = [k for k in restarts if target < k <= last and holes[k].any()]
    return min(ahead) - lo if ahead else None


def _carry_previous(
    image: np.ndarray,
    unknown: np.ndarray,
    previous: np.ndarray,
    flow_back: np.ndarray,
    homography: np.ndarray | None,
    camera_motion_px: float,
    seam_correction: bool,
    kernel: str = "linear",
) -> np.ndarray:
    """Fill ``unknown`` pixels from the previous output frame, then (``seam_correction``) diffuse the colour
    difference on their border (known here vs carried) into them.

    Why: per-frame spatial inpainting paints each frame anew, so what no frame shows flickers; carried along the
    motion it stays put, and the seam correction lets it follow slow changes around it. The motion is the camera's
    (``homography``: previous -> this frame) where the completed flow (this frame -> previous) agrees with it to
    within ``camera_motion_px``: flow interpolated inside a hole is pulled by whatever moves beside it and would
    drift the fill; elsewhere (something moving on its own) the flow.
    """
    ring = grow_mask(unknown, _SEAM_RING_PX) & ~unknown if seam_correction else np.zeros_like(unknown)
    ys, xs = np.nonzero(unknown | ring)
    step = sample(flow_back, xs.astype(np.float32), ys.astype(np.float32))
    px, py = xs + step[:, 0], ys + step[:, 1]
    if homography is not None and camera_motion_px > 0:
        cx, cy = transform_points(np.linalg.inv(homography), xs, ys)
        follows = np.hypot(px - cx, py - cy) <= camera_motion_px
        px, py = np.where(follows, cx, px), np.where(follows, cy, py)
    carried = sample_colour(previous, px, py, kernel)
    out = image.copy()
    inside = unknown[ys, xs]
    out[ys[inside], xs[inside]] = carried[inside]
    border = ~inside
    return _correct_from_ring(out, unknown, image, ys[border], xs[border], carried[border])


def _correct_from_ring(
    image: np.ndarray, filled: np.ndarray, true_image: np.ndarray, ry: np.ndarray, rx: np.ndarray, colours: np.ndarray
) -> np.ndarray:
    """Seam-correct the ``filled`` pixels of ``image`` from the ring pixels ``(rx, ry)``, where the true colour
    (``true_image``) and the propagated ``colours`` are both known."""
    residual = np.zeros_like(image)
    residual_known = np.zeros_like(filled)
    residual[ry, rx] = true_image[ry, rx] - colours
    residual_known[ry, rx] = True
    return correct_seams(image, filled, residual_known, residual)


def _validate(frames: np.ndarray, holes: np.ndarray, targets: Sequence[int]) -> tuple[np.ndarray, np.ndarray, list]:
    """Check shapes and types, name what is wrong, and return contiguous float32 / bool arrays."""
    frames = np.asarray(frames)
    holes = np.asarray(holes)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise SequenceError(f"propagate fill: frames must be (t, h, w, 3) RGB, got shape {frames.shape}")
    if holes.shape != frames.shape[:3]:
        raise MatteError(f"propagate fill: holes shape {holes.shape} does not match frames {frames.shape[:3]}")
    if not np.isfinite(frames).all():
        raise SequenceError("propagate fill: frames contain NaN or infinite values; convert to display range first")
    targets = [int(i) for i in targets]
    bad = [i for i in targets if not 0 <= i < frames.shape[0]]
    if bad:
        raise ConfigError(f"propagate fill: target indices {bad} outside the window 0..{frames.shape[0] - 1}")
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    holes = np.ascontiguousarray(holes, dtype=bool)
    return frames, holes, targets
