"""Pixel propagation: follow completed flow chains from a hole pixel to the nearest frames that saw that point.

For each queried pixel of the target frame we step frame by frame along the completed flow, forwards and backwards
in time. A chain records a colour candidate at each frame where its position lies outside that frame's hole (every
bilinear neighbour visible), up to ``max_candidates`` of them (weighted by temporal distance and flow agreement,
which averages out noise and compression). It stops when it leaves the image or when the forward and backward
flows of a step disagree (an occlusion or a bad flow: following it further would fetch the wrong surface).

Background that moves with the camera is also traced along the pairs' homographies (``trace_camera``): composing
them does not drift inside large holes the way chains of interpolated flow do, and it reaches far frames. Those
colours replace the flow chains' where the completed flow itself agrees with the camera motion
(``camera_deviation``), i.e. where the hole holds background rather than something moving on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from e2fgvi_core.propagate.flow import sample, sample_colour
from e2fgvi_core.propagate.global_motion import PairMotion, transform_points


@dataclass
class Candidates:
    """Colour candidates found in one temporal direction for ``n`` queried pixels, up to ``k`` each.

    ``samples`` (n, k, 3) float32 colours, ``weights`` (n, k) float32 (0 where no candidate), ``found`` bool (n,),
    ``distance`` int (n,): frames to the first hit (0 where none).
    """

    samples: np.ndarray
    weights: np.ndarray
    found: np.ndarray
    distance: np.ndarray


def trace_direction(
    frames: np.ndarray,
    holes_f32: np.ndarray,
    forward: list[np.ndarray],
    backward: list[np.ndarray],
    target: int,
    xs: np.ndarray,
    ys: np.ndarray,
    step: int,
    max_steps: int,
    consistency_px: float,
    consistency_ratio: float,
    max_candidates: int = 1,
    kernel: str = "linear",
) -> Candidates:
    """Trace the points ``(xs, ys)`` of frame ``target`` towards ``target + step * k`` (``step`` is +1 or -1)."""
    n = xs.size
    t, h, w = holes_f32.shape
    samples = np.zeros((n, max_candidates, 3), dtype=np.float32)
    weights = np.zeros((n, max_candidates), dtype=np.float32)
    hits = np.zeros(n, dtype=np.int32)
    distance = np.zeros(n, dtype=np.int32)
    active = np.arange(n)
    px = xs.astype(np.float32)
    py = ys.astype(np.float32)
    acc = np.zeros(n, dtype=np.float32)
    for k in range(1, max_steps + 1):
        current = target + (k - 1) * step
        following = current + step
        if following < 0 or following >= t or active.size == 0:
            break
        if step > 0:
            flow_there, flow_back = forward[current], backward[current]
        else:
            flow_there, flow_back = backward[following], forward[following]
        f = sample(flow_there, px, py)
        qx = px + f[:, 0]
        qy = py + f[:, 1]
        inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        b = sample(flow_back, qx, qy)
        disagreement = np.hypot(f[:, 0] + b[:, 0], f[:, 1] + b[:, 1])
        magnitude = np.hypot(f[:, 0], f[:, 1]) + np.hypot(b[:, 0], b[:, 1])
        consistent = disagreement <= consistency_px + 0.5 * consistency_ratio * magnitude
        acc_next = acc + disagreement
        keep = inside & consistent
        visible = keep & (sample(holes_f32[following], qx, qy, border_value=1.0) <= 1e-3)
        if visible.any():
            hit = active[visible]
            slot = hits[hit]
            samples[hit, slot] = sample_colour(frames[following], qx[visible], qy[visible], kernel)
            weights[hit, slot] = 1.0 / (k * (1.0 + acc_next[visible]))
            distance[hit[slot == 0]] = k
            hits[hit] += 1
        going_on = keep & (hits[active] < max_candidates)
        active = active[going_on]
        px, py, acc = qx[going_on], qy[going_on], acc_next[going_on]
    return Candidates(samples, weights, hits > 0, distance)


def blend_candidates(first: Candidates, second: Candidates) -> tuple[np.ndarray, np.ndarray]:
    """Blend both directions' candidates, nearer frames and better-agreeing chains weighted more.

    Returns ``(colours (n, 3) float32, found bool (n,))``. (A robust, outlier-rejecting blend was measured: no gain.)
    """
    samples = np.concatenate([first.samples, second.samples], axis=1)
    weights = np.concatenate([first.weights, second.weights], axis=1)
    found = weights.sum(axis=1) > 0
    return _weighted_mean(samples, weights).astype(np.float32), found


def _weighted_mean(samples: np.ndarray, weights: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=1)
    return np.einsum("nk,nkc->nc", weights, samples) / np.where(total > 0, total, 1.0)[:, None]


def camera_deviation(
    xs: np.ndarray,
    ys: np.ndarray,
    target: int,
    forward: list[np.ndarray],
    backward: list[np.ndarray],
    motions: list[PairMotion],
) -> np.ndarray:
    """How far (pixels, (n,) float32) the completed flow at the points of frame ``target`` departs from the camera
    motion, the larger of the steps to the next and to the previous frame (inf where neither has a homography).

    Where it is small the hole holds background that moves with the camera, and the homography chain is the
    better guide; where it is large the surroundings move otherwise (a person beside the hole), so do not use it.
    """
    worst = np.zeros(xs.size, dtype=np.float32)
    any_fit = False
    steps = []
    if target < len(motions):
        steps.append((motions[target].homography, forward[target]))
    if target >= 1:
        matrix = motions[target - 1].homography
        steps.append((None if matrix is None else np.linalg.inv(matrix), backward[target - 1]))
    px = xs.astype(np.float32)
    py = ys.astype(np.float32)
    for matrix, flow in steps:
        if matrix is None:
            continue
        any_fit = True
        qx, qy = transform_points(matrix, px, py)
        f = sample(flow, px, py)
        worst = np.maximum(worst, np.hypot(px + f[:, 0] - qx, py + f[:, 1] - qy))
    return worst if any_fit else np.full(xs.size, np.inf, dtype=np.float32)


def trace_camera(
    frames: np.ndarray,
    holes_f32: np.ndarray,
    motions: list[PairMotion],
    target: int,
    xs: np.ndarray,
    ys: np.ndarray,
    max_steps: int,
    kernel: str = "linear",
    nearest: np.ndarray | None = None,
    reference_moving: Mapping[int, np.ndarray] | None = None,
    reference_matrices: Mapping[int, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Colours of the points ``(xs, ys)`` of frame ``target`` from the nearest frames, forwards and backwards, where
    the composed camera motion lands on a pixel that is neither in a hole nor moving foreground.

    A direction stops at the first pair without a homography. The two directions' first hits are blended, each
    weighted by the inverse of its distance in frames. Returns ``(colours (n, 3) float32, found bool (n,))``;
    ``nearest`` ((n,) int, zeros), when given, receives the distance in frames to the nearer hit (0 where none).
    ``reference_moving``: frame index -> float32 (h, w) map (1: not there at ``target``) of more foreground of that
    frame (a reference frame's passers-by who have left by ``target``: ``references.still_background``);
    ``reference_matrices``: frame index -> the homography ``target`` -> that frame aligned directly
    (``global_motion.refine_homography``), used instead of the composed one.
    """
    n = xs.size
    total = np.zeros((n, 3), dtype=np.float32)
    weight = np.zeros(n, dtype=np.float32)
    t = holes_f32.shape[0]
    for step in (+1, -1):
        matrix = np.eye(3)
        pending = np.ones(n, dtype=bool)
        for k in range(1, max_steps + 1):
            source = target + step * k
            if source < 0 or source >= t or not pending.any():
                break
            pair = motions[source - 1] if step > 0 else motions[source]
            if pair.homography is None:
                break
            matrix = (pair.homography if step > 0 else np.linalg.inv(pair.homography)) @ matrix
            index = np.nonzero(pending)[0]
            direct = reference_matrices.get(source) if reference_matrices else None
            qx, qy = transform_points(matrix if direct is None else direct, xs[index], ys[index])
            moving = motions[source].moving_a if source < len(motions) else motions[source - 1].moving_b
            blocked = sample(holes_f32[source], qx, qy, border_value=1.0) > 1e-3
            blocked |= sample(moving.astype(np.float32), qx, qy, border_value=1.0) > 1e-3
            if reference_moving and source in reference_moving:
                blocked |= sample(reference_moving[source], qx, qy, border_value=1.0) > 1e-3
            hit = index[~blocked]
            if hit.size:
                total[hit] += sample_colour(frames[source], qx[~blocked], qy[~blocked], kernel) / k
                weight[hit] += 1.0 / k
                pending[hit] = False
                if nearest is not None:
                    nearest[hit] = np.where(nearest[hit] == 0, k, np.minimum(nearest[hit], k))
    found = weight > 0
    colours = total / np.where(found, weight, 1.0)[:, None]
    return colours.astype(np.float32), found
