"""Sharp resampling and the detail band of painted areas: detail kept where a smear or a blur would lose it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from e2fgvi_core import metrics
from e2fgvi_core.errors import ConfigError
from e2fgvi_core.propagate import PropagateConfig, PropagateInpainter
from e2fgvi_core.propagate.flow import sample, sample_colour
from e2fgvi_core.propagate.spatial_fill import add_detail


def test_clamped_cubic_keeps_more_detail_than_bilinear_and_never_overshoots():
    rng = np.random.default_rng(5)
    image = rng.random((40, 50, 3)).astype(np.float32)
    ys, xs = np.mgrid[2:38, 2:48].astype(np.float32)
    xs, ys = xs.ravel() + 0.5, ys.ravel() + 0.5  # half a pixel off: the worst case for bilinear
    linear, cubic = sample(image, xs, ys), sample_colour(image, xs, ys, "cubic")
    assert cubic.var(axis=0).mean() > 1.3 * linear.var(axis=0).mean()
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    corners = np.stack([image[y0, x0], image[y0, x0 + 1], image[y0 + 1, x0], image[y0 + 1, x0 + 1]])
    assert (cubic >= corners.min(axis=0) - 1e-6).all() and (cubic <= corners.max(axis=0) + 1e-6).all()
    whole = sample_colour(image, xs.round(), ys.round(), "lanczos")  # on pixel centres: the pixels themselves
    np.testing.assert_allclose(whole, image[ys.round().astype(int), xs.round().astype(int)], atol=1e-5)


def test_sharp_samples_are_clamped_to_their_own_2x2_pixels_up_to_the_last_row_and_column():
    rng = np.random.default_rng(7)
    image = rng.random((20, 30, 3)).astype(np.float32)
    image[::2] = 1.0 - image[::2]  # strong edges, so the cubic sample overshoots and the clamp decides
    xs = np.concatenate([rng.uniform(0, 29, 200), [29.0, 28.6, 29.0, 40.0, -3.0, 0.0]]).astype(np.float32)
    ys = np.concatenate([rng.uniform(0, 19, 200), [19.0, 18.4, 5.5, 25.0, -1.0, 19.0]]).astype(np.float32)
    got = sample_colour(image, xs, ys, "cubic")
    cx, cy = np.clip(xs, 0, 29), np.clip(ys, 0, 19)
    x0, y0 = np.floor(cx).astype(int), np.floor(cy).astype(int)
    x1, y1 = np.minimum(x0 + 1, 29), np.minimum(y0 + 1, 19)  # the far edge's block is the pixel's own
    corners = np.stack([image[y0, x0], image[y0, x1], image[y1, x0], image[y1, x1]])
    raw = sample(image, cx, cy, interpolation=cv2.INTER_CUBIC, border=cv2.BORDER_REFLECT_101)
    np.testing.assert_array_equal(got, np.clip(raw, corners.min(axis=0), corners.max(axis=0)))
    assert (raw != got).any()  # the clamp did something here
    np.testing.assert_array_equal(got[200], image[19, 29])


def test_detail_band_is_copied_from_beside_the_hole_only():
    rng = np.random.default_rng(6)
    source = rng.random((60, 80, 3)).astype(np.float32)
    hole = np.zeros((60, 80), bool)
    hole[20:40, 30:50] = True
    flat = np.full_like(source, 0.5)
    detailed = add_detail(flat, hole, source, hole, 1.0)
    np.testing.assert_array_equal(detailed[~hole], flat[~hole])  # nothing outside the painted pixels
    assert detailed[hole].std() > 0.1  # texture where there was none
    assert add_detail(flat, hole, source, hole, 0.0) is flat


def test_what_no_frame_shows_gets_detail_that_stays_put():
    """A static hole over a static texture: nothing reveals it; the fill has detail and the same detail each frame."""
    rng = np.random.default_rng(7)
    background = np.kron(rng.random((16, 20, 3)), np.ones((4, 4, 1))).astype(np.float32)
    frames = np.repeat(background[None], 8, axis=0)
    holes = np.zeros((8, 64, 80), bool)
    holes[:, 24:40, 32:48] = True
    smooth = PropagateInpainter(PropagateConfig(context_frames=4, spatial_detail=0.0)).fill(frames, holes, range(8))
    detailed = PropagateInpainter(PropagateConfig(context_frames=4)).fill(frames, holes, range(8))
    ratio = metrics.detail_energy(detailed, holes) / metrics.detail_energy(frames, holes)
    assert ratio > 5 * metrics.detail_energy(smooth, holes) / metrics.detail_energy(frames, holes)
    assert np.abs(detailed[1:][holes[1:]] - detailed[:-1][holes[:-1]]).mean() < 0.02  # no flicker
    with pytest.raises(ConfigError, match="spatial_detail"):
        PropagateConfig(spatial_detail=-1.0)
    with pytest.raises(ConfigError, match="resample_kernel"):
        PropagateConfig(resample_kernel="nearest")


def test_a_carry_restart_hands_over_instead_of_jumping():
    """A camera pan over texture under a static hole that no frame reveals: the carried fill moves with the camera,
    while the restart's fresh fill copies detail from beside the hole anew. Handed over over the frames before the
    restart, the fill changes across the restart no more than across the other frame pairs."""
    rng = np.random.default_rng(8)
    world = np.kron(rng.random((20, 40, 3)), np.ones((4, 4, 1))).astype(np.float32)
    count, restart = 16, 10
    frames = np.stack([world[8:72, 2 * t : 2 * t + 96] for t in range(count)])  # 2 px a frame to the left
    holes = np.zeros(frames.shape[:3], bool)
    holes[:, 16:48, 32:64] = True
    out = PropagateInpainter(PropagateConfig(context_frames=12)).fill(frames, holes, range(count), [0, restart])
    inner = holes[0].copy()
    inner[:, 60:] = False  # compare pixel t+1 (x) with pixel t (x + 2), both inside the hole
    steps = [np.abs(out[t + 1][inner] - np.roll(out[t], -2, axis=1)[inner]).mean() for t in range(count - 1)]
    assert steps[restart - 1] < 2.0 * np.median(steps), steps
