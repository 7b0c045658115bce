"""Mattes from real files: thresholds per dtype, channel choice, plate channels, sizes and windows."""

from __future__ import annotations

import numpy as np
import pytest

from e2fgvi_core.errors import ConfigError, MatteError
from e2fgvi_core.io import (
    Frame,
    FrameSequence,
    MatteConfig,
    matte_for_plate,
    matte_from_frame,
    read_frame,
    read_header,
    resolve_frames,
)
from e2fgvi_core.io.matte import matte_channel_note


def test_uint8_matte_any_nonzero_removes(oiio_write, tmp_path):
    values = np.array([[0, 1, 127], [128, 254, 255]], dtype=np.uint8)
    frame = read_frame(oiio_write(tmp_path / "m.png", values))
    assert frame.channels == ("Y",)
    assert matte_from_frame(frame).tolist() == [[False, True, True], [True, True, True]]


def test_uint16_matte_any_nonzero_removes(oiio_write, tmp_path):
    values = np.array([[0, 1, 65535]], dtype=np.uint16)
    assert matte_from_frame(read_frame(oiio_write(tmp_path / "m.tif", values))).tolist() == [[False, True, True]]


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_float_matte_threshold_is_half(oiio_write, tmp_path, dtype):
    values = np.array([[0.0, 0.5, 0.5009765625, 1.0, np.nan, -3.0, 7.0]], dtype=dtype)
    frame = read_frame(oiio_write(tmp_path / "m.exr", values))
    assert matte_from_frame(frame).tolist() == [[False, False, True, True, False, False, True]]


def test_default_is_alpha_then_first_channel(oiio_write, tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0, 0] = 255  # red only: not the alpha
    rgba[1, 1, 3] = 255  # alpha
    from_rgba = matte_from_frame(read_frame(oiio_write(tmp_path / "rgba.png", rgba)))
    assert from_rgba.tolist() == [[False, False], [False, True]]
    from_rgb = matte_from_frame(read_frame(oiio_write(tmp_path / "rgb.png", rgba[..., :3].copy())))
    assert from_rgb.tolist() == [[True, False], [False, False]]


def test_named_channel_of_the_plate(oiio_write, tmp_path):
    pixels = np.zeros((2, 3, 5), np.float16)
    pixels[..., :3] = 4.0  # bright HDR colour must not count as matte
    pixels[0, 1, 4] = 1.0
    plate = read_frame(oiio_write(tmp_path / "plate.exr", pixels, channels=("R", "G", "B", "A", "remove.mask")))
    expected = [[False, True, False], [False, False, False]]
    assert matte_from_frame(plate, "remove.mask").tolist() == expected
    assert matte_from_frame(plate, "mask").tolist() == expected  # unique layer suffix
    assert matte_from_frame(plate, "REMOVE.MASK").tolist() == expected  # case-insensitive


def test_wrong_channel_lists_the_available_ones(oiio_write, tmp_path):
    path = oiio_write(tmp_path / "m.exr", np.zeros((2, 2, 4), np.float16))
    with pytest.raises(MatteError) as info:
        matte_from_frame(read_frame(path), "matte")
    message = str(info.value)
    assert "'matte'" in message and "R, G, B, A" in message and str(path) in message and "\n" not in message


def test_size_mismatch_names_both_sizes(oiio_write, tmp_path):
    plate = read_frame(oiio_write(tmp_path / "p.exr", np.zeros((6, 8, 3), np.float16)))
    matte = read_frame(oiio_write(tmp_path / "m.png", np.zeros((3, 4), np.uint8)))
    with pytest.raises(MatteError, match=r"m\.png is 4x3 but plate .*p\.exr is 8x6"):
        matte_for_plate(plate, matte)


def test_png_matte_over_exr_plate_with_offset_data_window(oiio_write, tmp_path):
    """Plate data window (2, 1, 4x3) inside a 8x6 display window; the PNG matte covers the whole display."""
    plate = read_frame(
        oiio_write(tmp_path / "p.exr", np.zeros((3, 4, 3), np.float16), data_origin=(2, 1), display_window=(0, 0, 8, 6))
    )
    full = np.zeros((6, 8), np.uint8)
    full[1, 2] = 255  # top-left pixel of the plate's data window
    full[5, 7] = 255  # outside it
    matte = read_frame(oiio_write(tmp_path / "m.png", full))
    hole = matte_for_plate(plate, matte)
    assert hole.shape == (3, 4)
    assert hole.sum() == 1 and hole[0, 0]


def test_matte_with_small_data_window_is_placed_by_coordinates(oiio_write, tmp_path):
    plate = read_frame(oiio_write(tmp_path / "p.exr", np.zeros((6, 8, 3), np.float16)))
    matte = read_frame(
        oiio_write(tmp_path / "m.exr", np.ones((2, 2, 1), np.float16), data_origin=(5, 3), display_window=(0, 0, 8, 6))
    )
    hole = matte_for_plate(plate, matte)
    assert hole.shape == (6, 8)
    assert np.argwhere(hole).tolist() == [[3, 5], [3, 6], [4, 5], [4, 6]]


def test_header_is_enough_for_the_plate_side(oiio_write, tmp_path):
    plate = read_header(oiio_write(tmp_path / "p.exr", np.zeros((2, 2, 3), np.float16)))
    matte = read_frame(oiio_write(tmp_path / "m.png", np.full((2, 2), 255, np.uint8)))
    assert matte_for_plate(plate, matte).all()


def test_matte_sequence_end_to_end(oiio_write, tmp_path):
    """A plate EXR sequence and a #### PNG matte sequence resolved, read and combined frame by frame."""
    for frame in range(1001, 1004):
        oiio_write(tmp_path / f"plate.{frame:04d}.exr", np.full((4, 4, 3), frame / 1000, np.float16))
        matte = np.zeros((4, 4), np.uint8)
        matte[frame - 1001, :] = 255
        oiio_write(tmp_path / f"matte.{frame:04d}.png", matte)
    plate_seq = FrameSequence(str(tmp_path / "plate.%04d.exr"))
    matte_seq = FrameSequence(str(tmp_path / "matte.####.png"))
    frames = resolve_frames(plate_seq)
    assert resolve_frames(matte_seq, frames) == frames == (1001, 1002, 1003)
    for frame in frames:
        hole = matte_for_plate(read_header(plate_seq.path(frame)), read_frame(matte_seq.path(frame)))
        assert hole[frame - 1001].all() and hole.sum() == 4


def test_matte_config_from_mapping():
    assert MatteConfig.from_mapping({"channel": "A"}).channel == "A"
    assert MatteConfig.from_mapping({}).channel is None
    with pytest.raises(ConfigError, match="'chanel'.*valid: channel"):
        MatteConfig.from_mapping({"chanel": "A"})
    with pytest.raises(ConfigError, match="channel"):
        MatteConfig.from_mapping({"channel": ""})


def test_palette_matte_of_the_real_footage_removes_every_colour(footage_dir):
    """The schoolgirls mattes are palette PNGs, one colour per person: R alone misses part of the matte."""
    frame = read_frame(footage_dir / "schoolgirls" / "masks" / "00000.png")
    assert frame.channels == ("R", "G", "B")
    hole = matte_from_frame(frame)
    assert np.array_equal(hole, (frame.pixels > 0).any(axis=-1))
    assert (hole & (frame.pixels[..., 0] == 0)).sum() > 0.05 * hole.sum()  # pixels R alone would leave in
    note = matte_channel_note(frame)
    assert note is not None and "a multi-colour matte (channels R, G, B mark different areas" in note
    assert "any channel" in note and "--matte-channel" in note
    assert "disagree" not in note and "%" not in note  # before: "disagree on 86.7% of the matte", read as a fault
    assert matte_channel_note(frame, "R") is None  # one named channel: nothing to disagree


def test_agreeing_grey_matte_has_no_note(oiio_write, tmp_path):
    grey = np.zeros((4, 4, 3), np.uint8)
    grey[1:3, 1:3] = 200
    frame = read_frame(oiio_write(tmp_path / "grey.png", grey))
    assert matte_channel_note(frame) is None and matte_from_frame(frame).sum() == 4


def test_threshold_and_invert(oiio_write, tmp_path):
    values = np.array([[0, 64, 128, 255]], dtype=np.uint8)
    frame = read_frame(oiio_write(tmp_path / "m.png", values))
    assert matte_from_frame(frame, threshold=0.3).tolist() == [[False, False, True, True]]
    assert matte_from_frame(frame, invert=True).tolist() == [[True, False, False, False]]
    floats = Frame.from_array(np.array([[0.1, 0.3, np.nan, 0.9]], np.float32))
    assert matte_from_frame(floats, threshold=0.2).tolist() == [[False, True, False, True]]
    assert matte_from_frame(floats, threshold=0.2, invert=True).tolist() == [[True, False, False, False]]  # NaN never


def test_matte_config_controls_validate_and_default_to_the_official_values():
    assert MatteConfig() == MatteConfig(channel=None, threshold=None, invert=False, dilate=4, feather=0)
    config = MatteConfig.from_mapping({"threshold": "0.25", "invert": True, "dilate": "8", "feather": 3})
    assert (config.threshold, config.invert, config.dilate, config.feather) == (0.25, True, 8, 3)
    for bad in ({"threshold": 1.5}, {"dilate": -1}, {"feather": 2.5}, {"invert": "yes"}, {"dilat": 3}):
        with pytest.raises(ConfigError):
            MatteConfig.from_mapping(bad)
