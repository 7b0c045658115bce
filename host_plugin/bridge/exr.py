"""A minimal OpenEXR writer (uncompressed float scanlines) in plain Python and numpy, for frames given by value.

Why it exists: a reference frame travels to the server by path (``reference`` is a list of ``FRAMES=PATH`` entries),
so a host that hands the bridge pixels (an ``ArrayClip``) needs them written to a file first, and a host's Python has
no image library (no OpenImageIO in Nuke, Blender or Resolve). One single-part scanline file with ``NO_COMPRESSION``
and 32-bit float channels is a few dozen bytes of header around the raw rows (OpenEXR file layout, "Technical
Introduction to OpenEXR"); the server reads it with OpenImageIO like any other EXR.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from e2fgvi_core.atomic_files import write_atomic

_MAGIC = 20000630
_VERSION = 2  # single-part scanline, short names
_FLOAT = 2  # pixel type FLOAT
_ROWS_PER_CHUNK = 1  # NO_COMPRESSION: one scanline per chunk


def _attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def exr_bytes(pixels: np.ndarray, channels: Sequence[str]) -> bytes:
    """The bytes of an EXR file holding ``pixels`` (h, w, c) as 32-bit float channels named ``channels``."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    height, width, count = pixels.shape
    if count != len(channels) or len(set(channels)) != count or not all(channels):
        raise ValueError(f"{count} channels need as many distinct names, got {list(channels)}")
    order = sorted(range(count), key=lambda i: channels[i])  # a chlist is sorted by name
    chlist = b"".join(channels[i].encode() + b"\0" + struct.pack("<iB3xii", _FLOAT, 0, 1, 1) for i in order) + b"\0"
    box = struct.pack("<iiii", 0, 0, width - 1, height - 1)
    header = b"".join(
        [
            struct.pack("<ii", _MAGIC, _VERSION),
            _attribute("channels", "chlist", chlist),
            _attribute("compression", "compression", b"\0"),
            _attribute("dataWindow", "box2i", box),
            _attribute("displayWindow", "box2i", box),
            _attribute("lineOrder", "lineOrder", b"\0"),
            _attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
            _attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0)),
            _attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
            b"\0",
        ]
    )
    planar = np.ascontiguousarray(pixels[..., order].astype("<f4").transpose(0, 2, 1))  # (h, c, w): a row per chunk
    row_bytes = count * width * 4
    first = len(header) + 8 * height
    offsets = struct.pack(f"<{height}Q", *(first + y * (8 + row_bytes) for y in range(height)))
    rows = [struct.pack("<ii", y, row_bytes) + planar[y].tobytes() for y in range(height)]
    return header + offsets + b"".join(rows)


def write_exr(path: str, pixels: np.ndarray, channels: Sequence[str]) -> str:
    """Write ``pixels`` to ``path`` atomically (``atomic_files``: a temp file beside it, then a rename); returns it."""
    data = exr_bytes(pixels, channels)
    write_atomic(path, lambda temp: temp.write_bytes(data))
    return path
