"""Camera-motion guided propagation: homography fit per frame pair, moving-object flags, far, drift-free fetches."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.metrics import psnr
from e2fgvi_core.propagate import PropagateConfig, PropagateInpainter
from e2fgvi_core.propagate.global_motion import PairMotion, fit_homography, fit_pair_motion, homography_flow
from e2fgvi_core.propagate.pixel_propagation import trace_camera
from e2fgvi_core.testing import make_panning_shot


def test_pair_motion_fits_the_camera_and_flags_what_moves_otherwise():
    h, w = 80, 120
    forward = np.zeros((h, w, 2), np.float32)
    forward[..., 0], forward[..., 1] = -3.0, 1.0  # the camera: everything shifts by (-3, +1)
    backward = -forward
    forward[10:30, 20:40] = (4.0, 0.0)  # a person walking the other way, in frame a...
    backward[10:30, 24:44] = (-4.0, 0.0)  # ...and where it is in frame b
    measured = np.ones((h, w), bool)
    measured[50:70, 60:100] = False  # a hole: its flow must not take part in the fit
    forward[50:70, 60:100] = (20.0, -9.0)
    motion = fit_pair_motion(forward, backward, measured)
    assert motion.homography is not None
    flow = homography_flow(motion.homography, h, w)
    assert np.abs(flow - np.array([-3.0, 1.0], np.float32)).max() < 0.05
    assert motion.moving_a[10:30, 20:40].all() and motion.moving_a[measured].mean() < 0.12
    assert motion.moving_b[10:30, 24:44].all() and not motion.moving_b[40:, :50].any()
    # Nothing measured: no camera motion claimed, nothing flagged.
    none = fit_pair_motion(forward, backward, np.zeros((h, w), bool))
    assert none.homography is None and not none.moving_a.any() and not none.moving_b.any()


def _shot_with_a_bystander(gap_px: int, size_px: int):
    """A panning shot plus a textured red-and-white square that stays put in the frame (so it moves against the
    camera), ``gap_px`` left of the hole, on the rows whose background comes out of the hole on that side."""
    shot = make_panning_shot(t=17, h=96, w=160, shift_px=5, context=6, seed=3)
    frames = shot.frames.copy()
    ys, xs = np.nonzero(shot.holes[0])
    y0, x0 = ys.min(), xs.min() - gap_px
    cells = (np.indices((size_px, size_px)).sum(axis=0) // (size_px // 6) % 2).astype(np.float32)[..., None]
    frames[:, y0 + 4 : y0 + 4 + size_px, x0 - size_px : x0] = cells * np.array([1.0, 0.0, 0.0]) + (1 - cells) * 1.0
    return shot, frames


def _red(colours: np.ndarray) -> np.ndarray:
    return (colours[..., 0] > 0.8) & (colours[..., 1] < 0.15) & (colours[..., 2] < 0.15)


@pytest.mark.parametrize("seed", range(6))
def test_a_few_grid_points_fewer_barely_move_the_fitted_camera_motion(seed):
    """A matte changed in a corner takes a few points out of the fit: the camera motion must move by a hair, not
    jump to another RANSAC consensus (which moves every colour fetched along it, in frames far from the change)."""
    h, w = 240, 432
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    matrix = np.array([[1.002, 0.001, 2.3], [-0.001, 0.999, -0.8], [1e-6, -2e-6, 1.0]])
    moved = cv2.perspectiveTransform(np.stack([xs, ys], -1).reshape(1, -1, 2).astype(np.float64), matrix)
    parallax = 0.8 * np.sin(xs / 57.0 + seed) * np.cos(ys / 43.0)  # depth: no homography fits it exactly
    flow = moved[0].reshape(h, w, 2) - np.stack([xs, ys], -1) + np.stack([parallax, 0.3 * parallax], -1)
    flow = (flow + rng.normal(0.0, 0.3, flow.shape)).astype(np.float32)
    known = np.ones((h, w), bool)
    known[60:180, 150:260] = False  # the hole
    tweaked = known.copy()
    tweaked[:12, :12] = False  # the matte tweak: a patch in the corner
    fits = [fit_homography(flow, mask) for mask in (known, tweaked)]
    frame_corners = np.array([[[0, 0], [w, 0], [0, h], [w, h]]], np.float64)
    a, b = (cv2.perspectiveTransform(frame_corners, fit)[0] for fit in fits)
    assert np.abs(a - b).max() < 0.05
    assert np.abs(a - cv2.perspectiveTransform(frame_corners, matrix)[0]).max() < 2.0  # and it is the camera


def test_camera_trace_skips_pixels_that_move_against_the_camera():
    """Flagged moving pixels are not fetched; only the square's blurred flow boundary still leaks a little."""
    shot, frames = _shot_with_a_bystander(gap_px=0, size_px=24)
    holes_f32 = shot.holes.astype(np.float32)
    _, _, motions = PropagateInpainter(PropagateConfig(context_frames=6)).flows.window_flows(frames, shot.holes)
    blind = [PairMotion(m.homography, np.zeros_like(m.moving_a), np.zeros_like(m.moving_b)) for m in motions]

    def trace(i: int, pairs: list) -> tuple[int, float]:
        ys, xs = np.nonzero(shot.holes[i])
        colours, found = trace_camera(frames, holes_f32, pairs, i, xs, ys, 6)
        assert found.mean() > 0.6
        error = colours[found] - shot.background[i][ys[found], xs[found]]
        return int(_red(colours[found]).sum()), float(10 * np.log10(1.0 / np.mean(error**2)))

    for i in (4, 8, 12):
        red, value = trace(i, motions)
        red_blind, value_blind = trace(i, blind)
        assert red_blind > 50, "without the flags the square is fetched (else this test proves nothing)"
        assert red < 0.4 * red_blind and value > value_blind + 5.0, (i, red, red_blind, value, value_blind)


def test_camera_guided_fill_beats_flow_chains_bent_by_a_bystander():
    """The square beside the hole bends the interpolated flow inside it; the camera motion is not fooled."""
    shot, frames = _shot_with_a_bystander(gap_px=18, size_px=12)
    targets = [4, 8, 12]
    guided = PropagateInpainter(PropagateConfig(context_frames=6)).fill(frames, shot.holes, targets)
    chains = PropagateInpainter(PropagateConfig(context_frames=6, camera_motion_px=0.0)).fill(
        frames, shot.holes, targets
    )
    for j, i in enumerate(targets):
        assert shot.seen[i].sum() > 0.5 * shot.holes[i].sum()
        ours = psnr(shot.background[i], guided[j], mask=shot.seen[i])
        theirs = psnr(shot.background[i], chains[j], mask=shot.seen[i])
        assert ours > 40.0 and ours > theirs + 2.0, f"frame {i}: camera-guided {ours:.1f} dB, chains {theirs:.1f} dB"
        assert np.array_equal(guided[j][~shot.holes[i]], frames[i][~shot.holes[i]])


def test_camera_motion_option_is_validated():
    assert PropagateConfig.from_mapping({"camera_motion_px": "0"}, use_env=False).camera_motion_px == 0.0
    with pytest.raises(ConfigError, match="camera_motion_px"):
        PropagateConfig.from_mapping({"camera_motion_px": -1}, use_env=False)


def _textured(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random texture (h, w, 3) float32: trackable at sub-pixel precision, like foliage or gravel."""
    import cv2

    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 1.5)


@pytest.mark.parametrize("h, w", [(96, 160), (720, 1000)])  # the second is aligned at a reduced size
def test_refine_homography_removes_the_drift_of_a_composed_motion(h, w):
    """Twenty pairs of fitting error compose to a pixel or so: a direct alignment must bring it back."""
    import cv2

    from e2fgvi_core.propagate.global_motion import refine_homography, transform_points

    truth = np.array([[1.0, 0.002, 3.3], [-0.001, 1.0, -1.6], [0.0, 0.0, 1.0]])  # frame -> other
    other = _textured(h, w, 5)
    # frame(x) = other(truth x): the frame shows the other frame moved by the camera.
    frame = cv2.warpPerspective(other, truth, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP)
    known = np.ones((h, w), bool)
    known[h // 3 : h * 2 // 3, w // 3 : w * 2 // 3] = False  # a hole: not compared
    known[:6], known[-6:], known[:, :6], known[:, -6:] = False, False, False, False
    drifted = truth @ np.array([[1.0, 0.0, 1.2], [0.0, 1.0, -0.8], [0.0, 0.0, 1.0]])  # 1.4 px off
    refined = refine_homography(frame, known, other, np.ones((h, w), bool), drifted)
    xs, ys = np.array([10.0, w - 10.0, w / 2], np.float32), np.array([10.0, h - 10.0, h / 2], np.float32)
    tx, ty = transform_points(truth, xs, ys)
    rx, ry = transform_points(refined, xs, ys)
    dx, dy = transform_points(drifted, xs, ys)
    assert np.hypot(dx - tx, dy - ty).min() > 1.0
    assert np.hypot(rx - tx, ry - ty).max() < 0.25
    # Two frames that do not show the same thing: the composed estimate is kept, not a wild guess.
    unrelated = _textured(h, w, 6)
    kept = refine_homography(frame, known, unrelated, np.ones((h, w), bool), drifted)
    np.testing.assert_array_equal(kept, drifted)
