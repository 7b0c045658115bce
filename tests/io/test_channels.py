"""Choosing colour and alpha channels by name."""

from __future__ import annotations

import numpy as np
import pytest

from e2fgvi_core.errors import SequenceError
from e2fgvi_core.io import Frame, alpha_channel_index, find_channel, read_frame, rgb_channel_indices


@pytest.mark.parametrize(
    "channels, expected",
    [
        (("R", "G", "B"), (0, 1, 2)),
        (("A", "B", "G", "R"), (3, 2, 1)),
        (("r", "g", "b", "a"), (0, 1, 2)),
        (("Z", "beauty.B", "beauty.G", "beauty.R"), (3, 2, 1)),
        (("beauty.R", "beauty.G", "beauty.B", "R", "G", "B"), (3, 4, 5)),
        (("red", "green", "blue"), (0, 1, 2)),
        (("X", "Y", "Z", "W"), (0, 1, 2)),
        (("Y",), (0, 0, 0)),
        (("Y", "A"), (0, 0, 0)),
    ],
)
def test_rgb_channel_indices(channels, expected):
    assert rgb_channel_indices(channels) == expected


def test_rgb_from_a_named_layer():
    channels = ("R", "G", "B", "diffuse.R", "diffuse.G", "diffuse.B")
    assert rgb_channel_indices(channels, layer="diffuse") == (3, 4, 5)
    with pytest.raises(SequenceError, match="layers: diffuse"):
        rgb_channel_indices(channels, layer="spec")


def test_rgb_indices_of_a_real_exr(oiio_write, tmp_path):
    path = oiio_write(tmp_path / "x.exr", np.zeros((2, 2, 4), np.float16), channels=("A", "B", "G", "R"))
    frame = read_frame(path)
    r, g, b = rgb_channel_indices(frame)
    assert (frame.channels[r], frame.channels[g], frame.channels[b]) == ("R", "G", "B")


def test_alpha_and_find_channel():
    assert alpha_channel_index(("R", "G", "B", "A")) == 3
    assert alpha_channel_index(("R", "G", "B", "matte.A")) == 3
    assert alpha_channel_index(("R", "G", "B")) is None
    assert alpha_channel_index(Frame.from_array(np.zeros((1, 1, 2), np.uint8))) == 1
    assert find_channel(("a.mask", "b.mask"), "mask") is None  # ambiguous
    assert find_channel(("a.mask", "b.other"), "mask") == 0
