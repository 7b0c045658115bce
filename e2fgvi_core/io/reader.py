"""Reading frames through OpenImageIO: pixels in their native dtype, both windows, all channels, all metadata.

Only the first subimage and its full-resolution level are read (multi-part EXR and mipmaps beyond level 0 are
ignored). Every failure raises ``SequenceError`` naming the file and OpenImageIO's message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from e2fgvi_core.errors import SequenceError
from e2fgvi_core.io import _oiio
from e2fgvi_core.io.frame import Frame, Window

__all__ = ["Frame", "FrameHeader", "read_frame", "read_header"]


@dataclass(frozen=True)
class FrameHeader:
    """What a file holds, without its pixels: lets the engine check sizes and channels before reading a shot."""

    path: str
    channels: tuple[str, ...]
    data_window: Window
    display_window: Window
    dtype: np.dtype
    format_name: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return self.data_window[2]

    @property
    def height(self) -> int:
        return self.data_window[3]


def read_header(path: str | os.PathLike) -> FrameHeader:
    """The channels, windows, dtype and metadata of the image at ``path`` (pixels are not read)."""
    name = _existing(path)
    handle = _oiio.open_input(name, SequenceError)
    try:
        spec = handle.spec()
        dtype, _ = _pixel_formats(spec, name)
        metadata, _ = _oiio.read_attributes(spec)
        return FrameHeader(
            path=name,
            channels=tuple(spec.channelnames),
            data_window=_data_window(spec),
            display_window=_display_window(spec),
            dtype=dtype,
            format_name=handle.format_name(),
            metadata=metadata,
        )
    finally:
        handle.close()


def read_frame(path: str | os.PathLike) -> Frame:
    """Read the image at ``path`` into a ``Frame`` whose pixels keep the file's native dtype.

    Files mixing channel formats (e.g. half RGBA + float depth) are read in the widest of them, which holds every
    value exactly; ``Frame.channel_formats`` remembers each channel's own format for the writer.
    """
    name = _existing(path)
    handle = _oiio.open_input(name, SequenceError)
    try:
        spec = handle.spec()
        dtype, channel_formats = _pixel_formats(spec, name)
        if spec.depth > 1:
            raise SequenceError(f"cannot read {name}: volume images (depth {spec.depth}) are not supported")
        pixels = handle.read_image(0, 0, 0, spec.nchannels, _oiio.format_for_dtype(dtype, name, SequenceError))
        _oiio.check(pixels, handle, "read pixels of", name, SequenceError)
        pixels = np.asarray(pixels)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if pixels.dtype != dtype:
            raise SequenceError(f"cannot read {name}: OpenImageIO returned {pixels.dtype} for {dtype} data")
        metadata, types = _oiio.read_attributes(spec)
        return Frame(
            pixels=np.ascontiguousarray(pixels),
            channels=tuple(spec.channelnames),
            data_window=_data_window(spec),
            display_window=_display_window(spec),
            metadata=metadata,
            path=name,
            metadata_types=types,
            channel_formats=channel_formats,
        )
    finally:
        handle.close()


def _data_window(spec: Any) -> Window:
    return (spec.x, spec.y, spec.width, spec.height)


def _display_window(spec: Any) -> Window:
    return (spec.full_x, spec.full_y, spec.full_width, spec.full_height)


def _existing(path: str | os.PathLike) -> str:
    name = os.fspath(path)
    if not os.path.isfile(name):
        parent = Path(name).parent
        hint = "" if parent.is_dir() else f" (folder {parent} does not exist)"
        raise SequenceError(f"cannot read {name}: no such file{hint}")
    return name


def _pixel_formats(spec: Any, name: str) -> tuple[np.dtype, tuple[str, ...] | None]:
    """The dtype to read in, and per-channel format names when the file mixes formats."""
    formats = tuple(str(f) for f in spec.channelformats)
    if formats and len(set(formats)) > 1:
        dtypes = [_oiio.dtype_for_format(f, name, SequenceError) for f in formats]
        widest = max(dtypes, key=lambda d: (d.kind == "f", d.itemsize))
        if any(d.kind != "f" for d in dtypes):
            widest = np.dtype(np.float64) if any(d.itemsize > 2 for d in dtypes) else np.dtype(np.float32)
        return widest, formats
    return _oiio.dtype_for_format(spec.format, name, SequenceError), None
