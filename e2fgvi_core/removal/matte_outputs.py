"""The matte a run actually used, made visible: as its own sequence (``--write-matte``) or as an extra channel of
the EXR result (``--matte-channel-out``).

An artist who sees a fill in the wrong place needs to know which pixels the engine filled, after threshold,
inversion, dilation and feather, not which pixels the input matte had. Both outputs hold the fill's weight per
pixel: 1 where the fill replaced the plate, 0 where the plate is untouched, in between on a feathered edge.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.matte import MatteConfig

__all__ = ["check_matte_outputs", "with_matte_channel", "write_matte_frame"]

_FLOAT_OUTPUT_EXTENSIONS = (".exr",)


def check_matte_outputs(config: MatteConfig, out: str | None, frame_count: int) -> None:
    """Refuse, before any work, matte outputs that cannot be written: no frame token, a channel for a non-EXR."""
    from e2fgvi_core.io.sequence import require_frame_token

    if config.write:
        require_frame_token(config.write, frame_count, "--write-matte")
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


def write_matte_frame(pattern: str, number: int, frame: Frame, weights: np.ndarray) -> str:
    """Write the matte used for frame ``number`` over ``frame``'s display window: float 0..1 in EXR, 0..255 in
    8-bit formats. Atomic, like every output."""
    from e2fgvi_core.io.sequence import FrameSequence
    from e2fgvi_core.io.writer import write_frame

    path = FrameSequence(pattern).path(number)
    if path.lower().endswith(_FLOAT_OUTPUT_EXTENSIONS):
        pixels = weights.astype(np.float32)
    else:
        pixels = np.round(weights * 255).astype(np.uint8)
    x, y = frame.display_window[:2]
    matte = Frame.from_array(pixels, ("Y",), origin=(x, y))
    matte.display_window = frame.display_window
    return str(write_frame(path, matte, {"frame": number, "matte_of": frame.path or "plate"}))
