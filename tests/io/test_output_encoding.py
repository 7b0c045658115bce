"""Output encoding follows the output format (``io/output_encoding.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.io import Frame
from e2fgvi_core.io.colour import build_colour_transform, decode_srgb
from e2fgvi_core.io.output_encoding import check_output_channels, encode_for_output, output_kind, select_channels


def test_kind_follows_the_output_format():
    assert output_kind("a.exr", plate_is_float=False) == "linear"
    assert output_kind("a.png", plate_is_float=True) == "display"
    assert output_kind("a.exr", plate_is_float=True) == "raw" and output_kind("a.png", plate_is_float=False) == "raw"
    assert output_kind("a.tif", plate_is_float=True) == "raw"
    assert output_kind("a.png", plate_is_float=True, out_colorspace="raw") == "raw"
    with pytest.raises(ConfigError, match="integers only"):
        output_kind("a.png", plate_is_float=True, out_colorspace="linear")


def test_png_plate_to_exr_is_decoded_and_tagged_and_exr_to_png_encoded():
    colour = build_colour_transform()
    rgba = np.array([[[0, 128, 255, 255]]], np.uint8)
    linear = encode_for_output(Frame.from_array(rgba), "linear", colour, "a.exr")
    assert linear.pixels.dtype == np.float32 and linear.metadata["oiio:ColorSpace"] == "lin_rec709_scene"
    assert np.allclose(linear.pixels[0, 0, :3], decode_srgb(np.array([0, 128, 255], np.float32) / 255))
    assert linear.pixels[0, 0, 3] == 1.0  # alpha only rescaled
    hdr = Frame.from_array(np.array([[[0.0, 0.2158605, 4.0, 0.5]]], np.float32))
    display = encode_for_output(hdr, "display", colour, "a.png")
    assert display.pixels.dtype == np.uint8 and display.pixels[0, 0].tolist() == [0, 128, 255, 128]
    assert display.metadata["oiio:ColorSpace"] == "sRGB"


def test_channel_counts_a_format_cannot_hold_name_the_fix():
    with pytest.raises(ConfigError, match="--out-channels R,G,B,A"):
        check_output_channels("clean.%04d.png", ("R", "G", "B", "A", "depth.Z"))
    check_output_channels("clean.%04d.exr", ("R", "G", "B", "A", "depth.Z"))
    assert select_channels(("R", "G", "B", "A", "depth.Z"), "R,G,B") == (0, 1, 2)
    with pytest.raises(ConfigError, match="no channel 'Q'"):
        select_channels(("R", "G", "B"), "R,Q")
