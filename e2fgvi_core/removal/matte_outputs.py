"""The matte a run actually used, made visible: as its own sequence (``--write-matte``) or as an extra channel of
the EXR result (``--matte-channel-out``).

An artist who sees a fill in the wrong place needs to know which pixels the engine filled, after threshold,
inversion, dilation and feather, not which pixels the input matte had. Both outputs hold the fill's weight per
pixel: 1 where the fill replaced the plate, 0 where the plate is untouched, in between on a feathered edge.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import numpy as np

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.matte import MatteConfig

if TYPE_CHECKING:
    from e2fgvi_core.removal.sources import FileSink

__all__ = ["check_matte_outputs", "with_matte_channel", "write_matte_frame"]

_FLOAT_OUTPUT_EXTENSIONS = (".exr",)


def check_matte_outputs(config: MatteConfig, out: str | None, numbers: tuple[int, ...]) -> None:
    """Refuse, before any work, matte outputs that cannot be written: a channel for a non-EXR, a
    ``--write-matte`` naming the files of ``--out`` (each result would replace its matte: one sequence lost)."""
    from e2fgvi_core.io.sequence import FrameSequence

    if config.write and out:  # its frame token is checked by its FileSink, like --out's
        mattes, results = FrameSequence(config.write), FrameSequence(out)
        for number in numbers:
            path = os.path.abspath(mattes.path(number))
            if path == os.path.abspath(results.path(number)):
                raise ConfigError(f"--write-matte {config.write} names the same file as --out ({path}): rename one")
    if config.channel_out and out and not out.lower().endswith(_FLOAT_OUTPUT_EXTENSIONS):
        raise ConfigError(
            f"--matte-channel-out {config.channel_out}: {out} cannot hold an extra channel; write EXR "
            f"(--out name.%04d.exr) or use --write-matte PATTERN"
        )


def with_matte_channel(frame: Frame, weights: np.ndarray, config: MatteConfig) -> Frame:
    """``frame`` with the matte used as one more channel ``config.channel_out`` (the frame itself without it)."""
    if not config.channel_out:
        return frame
    if config.channel_out in frame.channels:
        raise ConfigError(f"--matte-channel-out {config.channel_out}: the plate has that channel already")
    dtype = frame.pixels.dtype if np.issubdtype(frame.pixels.dtype, np.floating) else np.dtype(np.float32)
    pixels = np.concatenate([frame.pixels.astype(dtype, copy=False), weights[..., None].astype(dtype)], axis=-1)
    formats = None if frame.channel_formats is None else (*frame.channel_formats, "float")
    return dataclasses.replace(
        frame,
        pixels=pixels,
        channels=(*frame.channels, config.channel_out),
        metadata=dict(frame.metadata),
        metadata_types=dict(frame.metadata_types),
        channel_formats=formats,
    )


def write_matte_frame(sink: FileSink, number: int, frame: Frame, weights: np.ndarray) -> str | None:
    """Write the matte used for frame ``number`` over ``frame``'s display window through ``sink`` (the
    ``--write-matte`` pattern): float 0..1 in EXR, 0..255 in 8-bit formats. Atomic and never over an input, like
    every output."""
    if sink.sequence.path(number).lower().endswith(_FLOAT_OUTPUT_EXTENSIONS):
        pixels = weights.astype(np.float32)
    else:
        pixels = np.round(weights * 255).astype(np.uint8)
    x, y = frame.display_window[:2]
    matte = Frame.from_array(pixels, ("Y",), origin=(x, y))
    matte.display_window = frame.display_window
    return sink.write(number, matte, {"frame": number, "matte_of": frame.path or "plate"})
