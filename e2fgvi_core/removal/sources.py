"""Where a run's frames come from and go to: image sequences on disk (the by-value kinds live in ``api``).

A source answers ``frame_numbers()``, ``read(frame) -> Frame`` and ``describe(frame)``; a sink answers ``check()``
(before any work, so an unwritable folder fails in a second, not after an hour) and
``write(frame, Frame, provenance) -> path``. Reading is lazy: the runner asks for a frame only when a window needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from e2fgvi_core.errors import ConfigError, MatteError, OutputError


class SequenceSource:
    """Frames of an image sequence (``plate.%04d.exr``, ``####``, ``@@@@`` or one file), checked for gaps up front."""

    def __init__(self, pattern: str, frames: str | Sequence[int] | None = None, name: str = "plate") -> None:
        from e2fgvi_core.io.sequence import FrameSequence, resolve_frames

        self.name = name
        self.sequence = FrameSequence(pattern)
        self._frames = tuple(resolve_frames(self.sequence, frames))

    def frame_numbers(self) -> tuple[int, ...]:
        return self._frames

    def describe(self, frame: int) -> str:
        return f"{self.name} frame {frame} ({self.sequence.path(frame)})"

    def read(self, frame: int):
        from e2fgvi_core.io.reader import read_frame

        return read_frame(self.sequence.path(frame))


def matte_from_frame(frame, channel: str | None, where: str) -> np.ndarray:
    """(h, w) bool matte of a frame: the named channel, else alpha, else the first channel (io's rule)."""
    try:
        from e2fgvi_core.io.matte import matte_from_frame as io_matte
    except ImportError:  # pragma: no cover - io.matte is part of the package; kept for partial checkouts
        io_matte = None
    if io_matte is not None:
        return np.asarray(io_matte(frame, channel), dtype=bool)
    names = list(frame.channels)
    if channel is not None:
        if channel not in names:
            raise MatteError(f"{where}: no channel {channel!r}; channels are {', '.join(names)}")
        index = names.index(channel)
    else:
        index = names.index("A") if "A" in names else 0
    values = frame.pixels[..., index]
    if np.issubdtype(values.dtype, np.floating):
        return values > 0.5
    return values > 0


def matte_for_plate(plate, matte, channel: str | None) -> np.ndarray:
    """(h, w) bool matte over the plate's data window (io places mattes by their data window)."""
    from e2fgvi_core.io.matte import matte_for_plate as io_matte_for_plate

    return np.asarray(io_matte_for_plate(plate, matte, channel), dtype=bool)


class FileSink:
    """Writes each finished frame atomically to ``pattern`` (temp file in the same folder + rename)."""

    def __init__(self, pattern: str, inputs: Sequence[str | None] = (), encoding: OutputEncoding | None = None) -> None:
        from e2fgvi_core.io.sequence import FrameSequence

        self.sequence = FrameSequence(pattern)
        self.encoding = encoding
        for other in inputs:
            if other and os.path.abspath(other) == os.path.abspath(pattern):
                raise ConfigError(f"--out {pattern} is the same as an input pattern: it would overwrite the plate")

    def check(self) -> None:
        """Fail before any work when the output folder cannot be created or written."""
        folder = Path(os.path.dirname(self.sequence.pattern) or ".").absolute()
        probe = folder
        while not probe.exists():
            if probe.parent == probe:
                break
            probe = probe.parent
        if not probe.is_dir():
            raise OutputError(f"output folder {folder}: {probe} exists and is not a folder")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise OutputError(f"output folder {folder} is not writable (no write permission on {probe})")

    def write(self, frame: int, result, provenance: Mapping[str, Any]) -> str | None:
        from e2fgvi_core.io.writer import write_frame

        if self.encoding is not None:
            result = self.encoding.apply(result)
        return str(write_frame(self.sequence.path(frame), result, metadata=provenance))


class OutputEncoding:
    """How results are stored in the output format: kept channels, then linear/display encoding (io/output_encoding)."""

    def __init__(self, out: str, kind: str, colour, tag: str | None, channels: tuple[int, ...] | None) -> None:
        self.out = out
        self.kind = kind
        self.colour = colour
        self.tag = tag
        self.channels = channels

    def apply(self, result):
        import dataclasses

        from e2fgvi_core.io.output_encoding import encode_for_output

        if self.channels is not None:
            formats = result.channel_formats
            result = dataclasses.replace(
                result,
                pixels=np.ascontiguousarray(result.pixels[..., list(self.channels)]),
                channels=tuple(result.channels[i] for i in self.channels),
                metadata=dict(result.metadata),
                metadata_types=dict(result.metadata_types),
                channel_formats=None if formats is None else tuple(formats[i] for i in self.channels),
            )
        return encode_for_output(result, self.kind, self.colour, self.out, self.tag)


def output_encoding_for(request, source, first: int) -> OutputEncoding:
    """Check, before any work, that ``request.out``'s format can hold the results; return how to encode them.

    Reads the first plate frame's header (channels, data type): a 5-channel plate to PNG fails here, with the fix
    named, not after the first window.
    """
    from e2fgvi_core.io.colour import build_colour_transform
    from e2fgvi_core.io.output_encoding import check_output_channels, output_kind, select_channels
    from e2fgvi_core.io.reader import read_header
    from e2fgvi_core.removal.exposure import colour_settings

    header = read_header(source.sequence.path(first)) if isinstance(source, SequenceSource) else source.read(first)
    channels = tuple(header.channels)
    matte_out = request.matte_config.channel_out
    if matte_out:
        channels = (*channels, matte_out)
    kept = select_channels(channels, getattr(request, "out_channels", None))
    if kept is not None:
        channels = tuple(channels[i] for i in kept)
    check_output_channels(request.out, channels)
    plate_is_float = bool(np.issubdtype(header.dtype, np.floating))
    kind = output_kind(request.out, plate_is_float, getattr(request, "out_colorspace", None))
    colour = colour_settings(request)
    transform = build_colour_transform(colour)
    tag = (colour.colorspace if kind == "linear" else colour.display) if colour.colorspace else None
    return OutputEncoding(request.out, kind, transform, tag, kept)
