"""Pixel propagation: follow completed flow chains from a hole pixel to the nearest frames that saw that point.

For each queried pixel of the target frame we step frame by frame along the completed flow, forwards and backwards
in time. A chain stops with a colour candidate at the first frame where its position lies outside that frame's hole
(every bilinear neighbour visible) or, with ``max_candidates`` > 1, goes on to average that many frames' colours
(weighted by temporal distance and flow agreement, which averages out noise and compression); it stops without one when it leaves the image or when the forward and backward
flows of a step disagree (an occlusion or a bad flow: following it further would fetch the wrong surface).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from e2fgvi_core.engines.flow import sample


@dataclass
class Candidates:
    """Colour candidates found in one temporal direction for ``n`` queried pixels.

    ``colours`` (n, 3) float32, ``found`` bool (n,), ``distance`` int (n,) in frames (0 where not found),
    ``error`` float32 (n,): summed forward-backward disagreement along the chain to the first hit, in pixels;
    ``weight`` float32 (n,): the summed weights of the hits averaged into ``colours``.
    """

    colours: np.ndarray
    found: np.ndarray
    distance: np.ndarray
    error: np.ndarray
    weight: np.ndarray


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
) -> Candidates:
    """Trace the points ``(xs, ys)`` of frame ``target`` towards ``target + step * k`` (``step`` is +1 or -1)."""
    n = xs.size
    t, h, w = holes_f32.shape
    colour_sum = np.zeros((n, 3), dtype=np.float32)
    weight_sum = np.zeros(n, dtype=np.float32)
    hits = np.zeros(n, dtype=np.int32)
    distance = np.zeros(n, dtype=np.int32)
    error = np.zeros(n, dtype=np.float32)
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
            weight = 1.0 / (k * (1.0 + acc_next[visible]))
            colour_sum[hit] += weight[:, None] * sample(frames[following], qx[visible], qy[visible])
            weight_sum[hit] += weight
            first = hits[hit] == 0
            distance[hit[first]] = k
            error[hit[first]] = acc_next[visible][first]
            hits[hit] += 1
        going_on = keep & (hits[active] < max_candidates)
        active = active[going_on]
        px, py, acc = qx[going_on], qy[going_on], acc_next[going_on]
    found = hits > 0
    colours = colour_sum / np.where(found, weight_sum, 1.0)[:, None]
    return Candidates(colours.astype(np.float32), found, distance, error, weight_sum)


def blend_candidates(first: Candidates, second: Candidates) -> tuple[np.ndarray, np.ndarray]:
    """Blend the two directions' candidates, nearer frames and better-agreeing chains weighted more.

    Returns ``(colours (n, 3) float32, found bool (n,))``.
    """
    weights = [np.where(c.found, c.weight, 0.0).astype(np.float32) for c in (first, second)]
    total = weights[0] + weights[1]
    found = total > 0
    safe = np.where(found, total, 1.0)[:, None]
    colours = (first.colours * weights[0][:, None] + second.colours * weights[1][:, None]) / safe
    return colours.astype(np.float32), found
