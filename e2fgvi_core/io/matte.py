"""Mattes: which pixels of a plate to remove.

A matte is a frame of its own sequence (default: its alpha, else its first channel) or a named channel of the
plate itself. A pixel is removed where the value is > 0.5 for float data, or > 0 for integer data (the official
script's ``np.array(mask) > 0`` on 8-bit PNG mattes). NaN never counts as "remove".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from e2fgvi_core.errors import ConfigError, MatteError
from e2fgvi_core.io.channels import alpha_channel_index, find_channel
from e2fgvi_core.io.frame import Frame

__all__ = ["FLOAT_THRESHOLD", "MatteConfig", "matte_channel_index", "matte_for_plate", "matte_from_frame"]

FLOAT_THRESHOLD = 0.5

FrameLike = Frame | Any  # a Frame or a FrameHeader (anything with channels, data/display windows, path)


@dataclass(frozen=True)
class MatteConfig:
    """Where the matte comes from: ``channel`` of the matte frames (None = alpha, else the first channel)."""

    channel: str | None = None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> MatteConfig:
        unknown = set(mapping) - {"channel"}
        if unknown:
            raise ConfigError(f"unknown matte setting {min(unknown)!r}; valid: channel")
        channel = mapping.get("channel")
        if channel is not None and (not isinstance(channel, str) or not channel.strip()):
            raise ConfigError(f"matte setting 'channel' must be a channel name or None, got {channel!r}")
        return cls(channel=channel)


def matte_channel_index(frame: FrameLike, channel: str | None = None) -> int:
    """The channel a matte is read from: ``channel`` by name, else alpha, else the first channel."""
    channels = tuple(frame.channels)
    if channel is None:
        alpha = alpha_channel_index(channels)
        return 0 if alpha is None else alpha
    index = find_channel(channels, channel)
    if index is None:
        where = getattr(frame, "path", None) or "matte"
        raise MatteError(f"{where}: no channel {channel!r}; available channels: {', '.join(channels)}")
    return index


def matte_from_frame(frame: Frame, channel: str | None = None) -> np.ndarray:
    """(h, w) bool, True where the pixel is to be removed, over the frame's data window."""
    values = frame.pixels[:, :, matte_channel_index(frame, channel)]
    if np.issubdtype(values.dtype, np.floating):
        return values > FLOAT_THRESHOLD
    return values > 0


def matte_for_plate(plate: FrameLike, matte: Frame, channel: str | None = None) -> np.ndarray:
    """The matte as (h, w) bool over the *plate's* data window.

    Equal data windows (or equal sizes) map pixel for pixel. When both share a display window but their data
    windows differ (an EXR matte cropped to its content, a PNG matte over an EXR plate with overscan), the matte
    is placed by its coordinates and is False where it has no data. Anything else is a ``MatteError`` naming both
    sizes.
    """
    hole = matte_from_frame(matte, channel)
    px, py, pw, ph = plate.data_window
    mx, my, mw, mh = matte.data_window
    if (pw, ph) == (mw, mh) and ((px, py) == (mx, my) or plate.display_window != matte.display_window):
        return hole
    if plate.display_window == matte.display_window:
        placed = np.zeros((ph, pw), dtype=bool)
        x0, y0 = max(px, mx), max(py, my)
        x1, y1 = min(px + pw, mx + mw), min(py + ph, my + mh)
        if x1 > x0 and y1 > y0:
            placed[y0 - py : y1 - py, x0 - px : x1 - px] = hole[y0 - my : y1 - my, x0 - mx : x1 - mx]
        return placed
    raise MatteError(
        f"matte {getattr(matte, 'path', None) or 'frame'} is {mw}x{mh} but plate "
        f"{getattr(plate, 'path', None) or 'frame'} is {pw}x{ph}: the matte must match the plate's size "
        f"(or share its display window)"
    )
