"""A minimal PNG writer (8- or 16-bit grey, RGB or RGBA) in plain Python, for integer frames given by value.

Why it exists: the server reads float pixels as scene-linear and integer pixels as display values, as it reads the
plate. A reference frame a host hands over in 8 or 16 bits is display-referred; written as a float EXR it would be
read as scene-linear and brightened by the view transform. Written as a PNG of the same depth it is read exactly as
an artist's PNG given to ``e2fgvi remove --reference``. A host's Python has no image library, but ``zlib`` is in
the standard library, and a PNG is the filtered rows in a zlib stream between checksummed chunks (W3C PNG
specification: signature, IHDR, IDAT, IEND).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from e2fgvi_core.atomic_files import write_atomic

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type: grey, RGB, RGBA (straight alpha)
CHANNEL_NAMES = {1: ["Y"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}
"""The channel names a PNG of that many channels holds, as OpenImageIO names them when it reads one back."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(pixels: np.ndarray) -> bytes:
    """The bytes of a PNG holding ``pixels``: (h, w) or (h, w, c) uint8 or uint16, c in 1, 3, 4."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim != 3 or pixels.shape[-1] not in _COLOUR_TYPES:
        raise ValueError(f"a PNG holds 1, 3 or 4 channels of uint8 or uint16, got {pixels.dtype} {pixels.shape}")
    height, width, count = pixels.shape
    depth = 8 * pixels.dtype.itemsize
    header = struct.pack(">IIBBBBB", width, height, depth, _COLOUR_TYPES[count], 0, 0, 0)
    rows = np.ascontiguousarray(pixels.astype(pixels.dtype.newbyteorder(">"))).reshape(height, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1)  # filter type 0 before every row
    return b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw.tobytes(), 1)),
            _chunk(b"IEND", b""),
        ]
    )


def write_png(path: str, pixels: np.ndarray) -> str:
    """Write ``pixels`` (see ``png_bytes``) to ``path`` atomically (``atomic_files``); returns it."""
    data = png_bytes(pixels)
    write_atomic(path, lambda temp: temp.write_bytes(data))
    return path
