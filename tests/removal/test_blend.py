"""Blend: the official running 0.5 blend with uint8 truncation, and the mean."""

from __future__ import annotations

import numpy as np

from e2fgvi_core.removal.blend import WindowBlend, composite_window_frame


def test_composite_truncates_inside_the_hole_only():
    pred = np.full((2, 2, 3), 200.9, dtype=np.float32)
    frame = np.full((2, 2, 3), 7, dtype=np.uint8)
    hole = np.array([[True, False], [False, False]])
    out = composite_window_frame(pred, frame, hole, quantise=True)
    assert out.dtype == np.uint8 and out[0, 0, 0] == 200 and out[1, 1, 0] == 7


def test_official_running_blend_weights_and_truncation():
    blend = WindowBlend("official", quantise=True)
    for value in (10, 21, 40):
        blend.add(3, np.full((1, 1, 3), value, dtype=np.uint8))
    # (10*0.5 + 21*0.5) = 15.5; 15.5*0.5 + 40*0.5 = 27.75 -> 27 (weights 1/4, 1/4, 1/2, truncated)
    assert blend.blended_float(3)[0, 0, 0] == np.float32(27.75)
    assert blend.result(3)[0, 0, 0] == 27 and 3 not in blend


def test_single_window_keeps_uint8_and_mean_mode():
    blend = WindowBlend("official", quantise=True)
    blend.add(0, np.full((1, 1, 3), 9, dtype=np.uint8))
    assert blend.result(0).dtype == np.uint8
    mean = WindowBlend("mean", quantise=True)
    for value in (10, 21, 40):
        mean.add(1, np.full((1, 1, 3), value, dtype=np.uint8))
    assert mean.result(1)[0, 0, 0] == 23  # 71 / 3 = 23.67 truncated


def test_float_blend_is_not_quantised():
    blend = WindowBlend("official", quantise=False)
    blend.add(0, np.full((1, 1, 3), 0.25, dtype=np.float32))
    blend.add(0, np.full((1, 1, 3), 0.5, dtype=np.float32))
    assert blend.result(0)[0, 0, 0] == np.float32(0.375)
