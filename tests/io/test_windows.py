"""Per-frame data windows on the display window and back (``io/windows.py``): zero where a file has no data,
overscan kept exactly, each frame's own window on the way out."""

from __future__ import annotations

import numpy as np

from e2fgvi_core.io import Frame, read_frame, write_frame
from e2fgvi_core.io.windows import on_display_window, to_own_data_window


def _frame(data_window, display_window=(0, 0, 8, 6), seed=0):
    w, h = data_window[2:]
    pixels = np.random.default_rng(seed).normal(1.0, 2.0, (h, w, 4)).astype(np.float16)
    return Frame(pixels, ("R", "G", "B", "A"), data_window, display_window)


def test_smaller_offset_window_is_placed_with_zeros_around_it(tmp_path):
    frame = read_frame(write_frame(tmp_path / "crop.exr", _frame((3, 2, 4, 3))))
    placed = on_display_window(frame)
    assert placed.data_window == placed.display_window == (0, 0, 8, 6)
    assert np.array_equal(placed.pixels[2:5, 3:7].view(np.uint16), frame.pixels.view(np.uint16))
    outside = np.ones((6, 8), bool)
    outside[2:5, 3:7] = False
    assert not placed.pixels[outside].any()


def test_overscan_is_set_aside_and_restored_bit_for_bit(tmp_path):
    frame = read_frame(write_frame(tmp_path / "over.exr", _frame((-2, -1, 12, 8))))
    placed = on_display_window(frame)
    assert placed.pixels.shape == (6, 8, 4)
    assert np.array_equal(placed.pixels.view(np.uint16), frame.pixels[1:7, 2:10].view(np.uint16))
    processed = placed.with_pixels(np.full_like(placed.pixels, 7.0))
    back = to_own_data_window(processed, frame)
    assert back.data_window == (-2, -1, 12, 8) and back.display_window == (0, 0, 8, 6)
    assert (back.pixels[1:7, 2:10] == 7.0).all()
    kept = np.ones((8, 12), bool)
    kept[1:7, 2:10] = False
    assert np.array_equal(back.pixels[kept].view(np.uint16), frame.pixels[kept].view(np.uint16))
    again = read_frame(write_frame(tmp_path / "out.exr", back))
    assert again.data_window == (-2, -1, 12, 8)


def test_equal_windows_pass_through_without_a_copy():
    frame = _frame((0, 0, 8, 6))
    assert on_display_window(frame) is frame
    assert to_own_data_window(frame, frame) is frame
