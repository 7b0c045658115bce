"""The weight-free propagate inpainter on synthetic shots with known answers and on real footage."""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from e2fgvi_core.errors import ConfigError, MatteError, SequenceError
from e2fgvi_core.metrics import psnr
from e2fgvi_core.propagate import PropagateConfig, PropagateInpainter
from e2fgvi_core.testing import make_panning_shot


def test_panning_shot_recovers_the_hidden_background(panning_shot):
    shot = panning_shot
    inpainter = PropagateInpainter(PropagateConfig(context_frames=6))
    targets = [3, 6, 9]
    out = inpainter.fill(shot.frames, shot.holes, targets)
    for j, i in enumerate(targets):
        seen = shot.seen[i]
        assert seen.sum() > 0.5 * shot.holes[i].sum(), "the synthetic shot should reveal most of the hole"
        value = psnr(shot.background[i], out[j], mask=seen)
        assert value > 35.0, f"frame {i}: in-hole PSNR {value:.1f} dB where other frames saw the background"
        # The occluder itself must be gone: the whole hole is far closer to the background than to the occluder.
        assert psnr(shot.background[i], out[j], mask=shot.holes[i]) > psnr(shot.frames[i], out[j], mask=shot.holes[i])


def test_outside_the_hole_is_the_input_and_outputs_are_valid(panning_shot):
    shot = panning_shot
    frames = shot.frames.copy()
    holes = shot.holes.copy()
    holes[4] = False  # a frame with nothing to fill
    holes[5, :10, :] = True  # a hole touching the border
    holes[7] = True  # a frame that is all hole: nothing to see in it
    out = PropagateInpainter(PropagateConfig(context_frames=4)).fill(frames, holes, [4, 5, 6, 7])
    assert out.dtype == np.float32 and out.shape == (4,) + frames.shape[1:]
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    for j, i in enumerate([4, 5, 6, 7]):
        assert np.array_equal(out[j][~holes[i]], frames[i][~holes[i]]), f"frame {i} changed outside its hole"
    # The all-hole frame has no motion to follow, but is still filled from its neighbours' texture, not flat.
    assert out[3].std() > 0.05
    # A one-frame window has nothing to propagate from: spatial fill only, still valid.
    single = PropagateInpainter(PropagateConfig(context_frames=4)).fill(frames[5:6], holes[5:6], [0])
    assert np.isfinite(single).all() and np.array_equal(single[0][~holes[5]], frames[5][~holes[5]])
    assert PropagateInpainter().fill(frames, holes, []).shape == (0,) + frames.shape[1:]


def test_fill_is_deterministic_and_uses_cached_flows_for_overlapping_windows(panning_shot):
    shot = panning_shot
    inpainter = PropagateInpainter(PropagateConfig(context_frames=3))
    first = inpainter.fill(shot.frames[0:9], shot.holes[0:9], [3, 4, 5])
    computed = inpainter.flows.misses
    second = inpainter.fill(shot.frames[3:12], shot.holes[3:12], [3, 4, 5])
    assert inpainter.flows.misses - computed == 3, "5 of the 8 pairs of the next window were already known"
    again = PropagateInpainter(PropagateConfig(context_frames=3)).fill(shot.frames[0:9], shot.holes[0:9], [3, 4, 5])
    assert np.array_equal(first, again)
    assert second.shape == first.shape


def test_memory_is_bounded_by_the_window():
    t, h, w = 13, 120, 216
    shot = make_panning_shot(t=t, h=h, w=w, shift_px=2, context=6, seed=1)
    inpainter = PropagateInpainter(PropagateConfig(context_frames=6))
    inpainter.fill(shot.frames, shot.holes, [6])  # warm up OpenCV and numpy
    inpainter.flows.clear()
    tracemalloc.start()
    try:
        for start in range(3):  # three sliding windows, as the runner streams them
            window = slice(start, start + t - 2)
            inpainter.fill(shot.frames[window], shot.holes[window], [5, 6])
            _, peak = tracemalloc.get_traced_memory()
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    window_bytes = shot.frames[: t - 2].nbytes
    assert peak < 6 * window_bytes, f"peak {peak / 1e6:.1f} MB for a {window_bytes / 1e6:.1f} MB window"
    # Between calls only the latest window's flows stay cached (two (h, w, 2) float32 arrays per pair).
    assert len(inpainter.flows._cache) <= t - 3
    assert retained < 2 * window_bytes


def test_bad_inputs_raise_clear_errors(panning_shot):
    inpainter = PropagateInpainter(PropagateConfig(context_frames=2))
    frames, holes = panning_shot.frames[:5], panning_shot.holes[:5]
    with pytest.raises(MatteError, match="holes shape"):
        inpainter.fill(frames, holes[:, :10], [2])
    with pytest.raises(ConfigError, match=r"\[7\] outside the window 0..4"):
        inpainter.fill(frames, holes, [7])
    with pytest.raises(SequenceError, match=r"\(t, h, w, 3\)"):
        inpainter.fill(frames[..., :2], holes, [2])
    bad = frames.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(SequenceError, match="NaN"):
        inpainter.fill(bad, holes, [2])


def test_config_from_mapping_validates_and_names_the_key(monkeypatch):
    config = PropagateConfig.from_mapping({"context_frames": "8", "seam_correction": "false"}, use_env=False)
    assert config.context_frames == 8 and config.seam_correction is False
    with pytest.raises(ConfigError, match="unknown propagate option 'contxt_frames'.*context_frames"):
        PropagateConfig.from_mapping({"contxt_frames": 3})
    with pytest.raises(ConfigError, match="flow_preset='slow'.*ultrafast, fast, medium"):
        PropagateConfig.from_mapping({"flow_preset": "slow"})
    with pytest.raises(ConfigError, match="context_frames"):
        PropagateConfig.from_mapping({"context_frames": 0})
    monkeypatch.setenv("E2FGVI_PROPAGATE_CONTEXT_FRAMES", "4")
    assert PropagateConfig.from_mapping(None).context_frames == 4
    assert PropagateConfig.from_mapping({"context_frames": 5}).context_frames == 5
    monkeypatch.setenv("E2FGVI_PROPAGATE_CONTEXT_FRAMES", "four")
    with pytest.raises(ConfigError, match="E2FGVI_PROPAGATE_CONTEXT_FRAMES"):
        PropagateConfig.from_mapping(None)
    assert PropagateInpainter(PropagateConfig(context_frames=7)).context_frames == 7


def _load(footage_dir, clip, what, count, flags):
    paths = sorted((footage_dir / clip / what).glob("*.png"))[:count]
    return np.stack([cv2.imread(str(p), flags) for p in paths])


def test_real_footage_propagate_beats_telea_inside_the_hole(footage_dir):
    count = 15
    frames_bgr = _load(footage_dir, "schoolgirls", "frames", count, cv2.IMREAD_COLOR)
    frames = frames_bgr[..., ::-1].astype(np.float32) / 255.0
    masks = _load(footage_dir, "tennis", "masks", count, cv2.IMREAD_GRAYSCALE) > 0
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)
    holes = np.stack([cv2.dilate(m.astype(np.uint8), cross, iterations=4) > 0 for m in masks])
    targets = [5, 7, 9]
    out = PropagateInpainter(PropagateConfig(context_frames=5)).fill(frames, holes, targets)
    gains = []
    for j, i in enumerate(targets):
        telea = cv2.inpaint(frames_bgr[i], holes[i].astype(np.uint8), 5, cv2.INPAINT_TELEA)[..., ::-1]
        truth = frames_bgr[i][..., ::-1].astype(np.float64)
        ours = np.clip(out[j] * 255.0 + 0.5, 0, 255).astype(np.uint8).astype(np.float64)
        gains.append(psnr(truth, ours, 255.0, holes[i]) - psnr(truth, telea.astype(np.float64), 255.0, holes[i]))
    assert np.mean(gains) > 1.0, f"in-hole PSNR gain over Telea per frame: {gains}"


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (17, 5), (5, 200)])
def test_tiny_crops_are_filled(size):
    """The runner crops to the matte's region: a few pixels must work as well as a full frame."""
    rng = np.random.default_rng(7)
    frames = rng.random((5, *size, 3)).astype(np.float32)
    holes = rng.random((5, *size)) > 0.6
    out = PropagateInpainter(PropagateConfig(context_frames=2)).fill(frames, holes, [0, 2, 4])
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    for j, i in enumerate([0, 2, 4]):
        assert np.array_equal(out[j][~holes[i]], frames[i][~holes[i]])


def _static_shot_with_grain(t: int = 10, h: int = 80, w: int = 112):
    """Locked-off camera, a textured background with fresh film grain on every frame, and a static hole that nothing
    ever reveals: per-frame spatial inpainting repaints the hole from a different grain each frame (flicker)."""
    rng = np.random.default_rng(5)
    texture = cv2.resize(rng.random((h // 8, w // 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    frames = np.clip(texture[None] + rng.normal(0.0, 0.03, (t, h, w, 3)), 0.0, 1.0).astype(np.float32)
    hole = np.zeros((h, w), bool)
    hole[30:50, 46:66] = True
    return frames, np.repeat(hole[None], t, axis=0)


def _flicker(out: np.ndarray, hole: np.ndarray) -> float:
    return float(np.mean([np.abs(out[k + 1][hole] - out[k][hole]).mean() for k in range(len(out) - 1)]))


def test_what_no_frame_sees_is_carried_along_instead_of_repainted_every_frame():
    frames, holes = _static_shot_with_grain()
    targets = list(range(len(frames)))
    repainted = PropagateInpainter(PropagateConfig(context_frames=4, temporal_spatial_fill=0.0))
    carried = PropagateInpainter(PropagateConfig(context_frames=4))
    out_repainted = repainted.fill(frames, holes, targets)
    out_carried = carried.fill(frames, holes, targets)
    for out in (out_repainted, out_carried):
        assert all(np.array_equal(out[i][~holes[i]], frames[i][~holes[i]]) for i in targets)
    assert _flicker(out_repainted, holes[0]) > 3e-3, "grain should change per-frame inpainting"
    assert _flicker(out_carried, holes[0]) < 0.75 * _flicker(out_repainted, holes[0])
    # The first frame has nothing to carry: both paint it the same way.
    assert np.array_equal(out_carried[0], out_repainted[0])


def test_a_previous_frame_of_other_content_is_never_carried():
    frames, holes = _static_shot_with_grain()
    other = np.ascontiguousarray(frames[:, ::-1])  # another shot of the same size
    used = PropagateInpainter(PropagateConfig(context_frames=4))
    used.fill(other, holes, [0, 1, 2, 3])
    after_other = used.fill(frames, holes, [3, 4])
    fresh = PropagateInpainter(PropagateConfig(context_frames=4)).fill(frames, holes, [3, 4])
    assert np.array_equal(after_other, fresh)
    # Across windows of one shot, in frame order, the frame filled last is carried into the next window's first.
    split = PropagateInpainter(PropagateConfig(context_frames=4))
    split.fill(frames, holes, [0, 1, 2])
    continued = split.fill(frames, holes, [3, 4])
    whole = PropagateInpainter(PropagateConfig(context_frames=4)).fill(frames, holes, [0, 1, 2, 3, 4])
    assert np.array_equal(continued, whole[3:])
    assert not np.array_equal(continued[0], fresh[0])


def test_temporal_spatial_fill_is_validated():
    with pytest.raises(ConfigError, match="temporal_spatial_fill"):
        PropagateConfig(temporal_spatial_fill=1.5)
    assert PropagateConfig.from_mapping({"temporal_spatial_fill": "0"}).temporal_spatial_fill == 0.0
