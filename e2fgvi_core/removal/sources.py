"""Where a run's frames come from and go to: image sequences on disk, or frames by value (the server, the host).

A source answers ``frame_numbers()``, ``read(frame) -> Frame`` and ``describe(frame)``; a sink answers ``check()``
(before any work, so an unwritable folder fails in a second, not after an hour) and
``write(frame, Frame, provenance) -> path``. Reading is lazy: the runner asks for a frame only when a window needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from e2fgvi_core.errors import ConfigError, SequenceError
from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.io.sequence import (
    FrameSequence,
    check_outputs_spare_inputs,
    file_identities,
    require_frame_token,
    resolve_frames,
)
from e2fgvi_core.io.writer import check_output_folder, sweep_stale_temp_files, write_frame


class SequenceSource:
    """Frames of an image sequence (``plate.%04d.exr``, ``####``, ``@@@@`` or one file), checked for gaps up front."""

    def __init__(self, pattern: str, frames: str | Sequence[int] | None = None, name: str = "plate") -> None:
        self.name = name
        self.sequence = FrameSequence(pattern)
        self._frames = tuple(resolve_frames(self.sequence, frames))

    def frame_numbers(self) -> tuple[int, ...]:
        return self._frames

    def describe(self, frame: int) -> str:
        return f"{self.name} frame {frame} ({self.sequence.path(frame)})"

    def read(self, frame: int):
        return read_frame(self.sequence.path(frame))


def input_paths(*sources: Any) -> list[str]:
    """The file of every frame of the sources read from disk (``SequenceSource``); frames by value have none."""
    paths: list[str] = []
    for source in sources:
        if isinstance(source, SequenceSource):
            paths.extend(source.sequence.path(frame) for frame in source.frame_numbers())
    return paths


class FileSink:
    """Writes each finished frame atomically to ``pattern`` (temp file in the same folder + rename).

    ``inputs`` are the files of the plate and matte frames: no output frame may be one of them (compared as files,
    device and inode, before any work and again as each frame is renamed into place). ``flag`` names the option
    the pattern came from in messages (the result's ``--out``, or ``--write-matte``, which writes through a sink too).
    """

    def __init__(
        self,
        pattern: str,
        inputs: Sequence[str] = (),
        frames: Sequence[int] = (),
        no_links: bool = False,
        encoding: OutputEncoding | None = None,
        flag: str = "--out",
    ) -> None:
        self.sequence = FrameSequence(pattern)
        self.flag = flag
        self.encoding = encoding
        self.no_links = no_links  # the server: write relative to a folder reached without links (io.writer)
        self._inputs = [p for p in inputs if p]
        self._frames = tuple(frames)
        self._protect: dict[tuple[int, int], str] = {}

    def check(self) -> None:
        """Fail before any work when the output folder cannot be created or written (``io.writer``'s check), or
        when an output frame is an input file."""
        require_frame_token(self.sequence.pattern, len(self._frames), self.flag)
        self._protect = file_identities(self._inputs)
        check_outputs_spare_inputs((self.sequence.path(f) for f in self._frames), self._protect, self.flag)
        check_output_folder(self.sequence.pattern)
        sweep_stale_temp_files(self.sequence.pattern)  # leftovers of a killed run (CLI or server) in this folder

    def write(self, frame: int, result, provenance: Mapping[str, Any]) -> str | None:
        if self.encoding is not None:
            result = self.encoding.apply(result)
        return str(
            write_frame(
                self.sequence.path(frame), result, metadata=provenance, protect=self._protect, no_links=self.no_links
            )
        )


def _as_frame(value: Any, where: str) -> Frame:
    if isinstance(value, Frame):
        return value
    array = np.asarray(value)
    if array.ndim not in (2, 3):
        raise SequenceError(f"{where}: expected an (h, w) or (h, w, c) array, got shape {array.shape}")
    frame = Frame.from_array(array)
    frame.path = where
    return frame


class MemorySource:
    """Frames by value: ``{frame_number: Frame or (h, w[, c]) array}`` (arrays get default channel names)."""

    def __init__(self, frames: Mapping[int, Any], name: str = "memory") -> None:
        if not frames:
            raise SequenceError(f"{name}: no frames given")
        self.name = name
        self._frames = {int(k): v for k, v in frames.items()}

    def frame_numbers(self) -> tuple[int, ...]:
        return tuple(sorted(self._frames))

    def describe(self, frame: int) -> str:
        return f"{self.name} frame {frame}"

    def read(self, frame: int) -> Frame:
        if frame not in self._frames:
            raise SequenceError(f"{self.describe(frame)} is missing; have {min(self._frames)}-{max(self._frames)}")
        return _as_frame(self._frames[frame], self.describe(frame))


class MemorySink:
    """Collects output frames by value in ``frames`` ({frame_number: Frame}); nothing touches the disk."""

    def __init__(self) -> None:
        self.frames: dict[int, Any] = {}
        self._lock = threading.Lock()

    def check(self) -> None:
        """Nothing to check: memory is always writable."""

    def write(self, frame: int, result, provenance: Mapping[str, Any]) -> str | None:
        with self._lock:
            self.frames[frame] = result
        return None

    def arrays(self) -> dict[int, np.ndarray]:
        return {k: v.pixels for k, v in sorted(self.frames.items())}


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

    header = read_header(source.sequence.path(first)) if isinstance(source, SequenceSource) else source.read(first)
    channels = tuple(header.channels)
    matte_out = request.matte_config.channel_out
    if matte_out in channels:  # refused here, before any work, not when the first frame is written
        raise ConfigError(f"--matte-channel-out {matte_out}: the plate has that channel already")
    if matte_out:
        channels = (*channels, matte_out)
    kept = select_channels(channels, request.out_channels)
    if kept is not None:
        channels = tuple(channels[i] for i in kept)
    check_output_channels(request.out, channels)
    plate_is_float = bool(np.issubdtype(header.dtype, np.floating))
    kind = output_kind(request.out, plate_is_float, request.out_colorspace)
    colour = request.colour
    transform = build_colour_transform(colour)
    tag = (colour.colorspace if kind == "linear" else colour.display) if colour.colorspace else None
    return OutputEncoding(request.out, kind, transform, tag, kept)
