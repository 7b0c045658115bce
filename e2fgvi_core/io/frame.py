"""The in-memory image: pixels in the file's native dtype plus everything needed to write it back unchanged.

A compositor expects every pixel the engine did not touch to come back bit-identical, with its channels, windows
and metadata. So a ``Frame`` never converts: half EXR stays ``float16``, 8-bit PNG stays ``uint8``, and the pixel
array covers the *data* window (which may be offset inside, or larger than, the display window).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from e2fgvi_core.errors import SequenceError

Window = tuple[int, int, int, int]
"""``(x, y, width, height)`` in pixels, the OpenImageIO/OpenEXR convention (y grows downwards)."""

NATIVE_DTYPES = (np.uint8, np.uint16, np.uint32, np.int8, np.int16, np.int32, np.float16, np.float32, np.float64)

_DEFAULT_CHANNELS = {1: ("Y",), 2: ("Y", "A"), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}


@dataclass
class Frame:
    """One image of a sequence.

    ``pixels`` is (h, w, c) in the native dtype of the file, covering ``data_window``; ``channels`` names the c
    channels in order; ``metadata`` maps attribute names to Python values (strings, numbers, tuples) and
    ``metadata_types`` keeps the OpenImageIO type name of each attribute read from a file (``"rational"``,
    ``"timecode"``, ``"matrix"`` ...) so the writer can store it with its original type. ``channel_formats``
    holds per-channel file formats (``"half"``, ``"float"``) when a file mixes them (e.g. half RGBA + float Z);
    ``pixels`` then holds the widest of them and the writer restores each channel's own format.
    """

    pixels: np.ndarray
    channels: tuple[str, ...]
    data_window: Window
    display_window: Window
    metadata: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    metadata_types: dict[str, str] = field(default_factory=dict)
    channel_formats: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.channels = tuple(str(c) for c in self.channels)
        self.data_window = _as_window(self.data_window, "data_window")
        self.display_window = _as_window(self.display_window, "display_window")
        if not isinstance(self.pixels, np.ndarray) or self.pixels.ndim != 3:
            shape = getattr(self.pixels, "shape", None)
            raise SequenceError(f"{self._where()}: pixels must be an (h, w, c) array, got shape {shape}")
        h, w, c = self.pixels.shape
        if (w, h) != (self.data_window[2], self.data_window[3]):
            raise SequenceError(
                f"{self._where()}: pixels are {w}x{h} but the data window {self.data_window} says "
                f"{self.data_window[2]}x{self.data_window[3]}"
            )
        if c != len(self.channels):
            raise SequenceError(f"{self._where()}: {c} pixel channels but {len(self.channels)} names {self.channels}")
        if self.channel_formats is not None and len(self.channel_formats) != c:
            raise SequenceError(f"{self._where()}: {c} channels but channel_formats {self.channel_formats}")

    @classmethod
    def from_array(
        cls,
        pixels: np.ndarray,
        channels: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        origin: tuple[int, int] = (0, 0),
    ) -> Frame:
        """Wrap an (h, w) or (h, w, c) array as a frame whose data and display windows coincide.

        Channel names default to Y / YA / RGB / RGBA by channel count, and C0, C1, ... beyond four.
        """
        array = np.asarray(pixels)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise SequenceError(f"Frame.from_array: expected an (h, w) or (h, w, c) array, got shape {array.shape}")
        h, w, c = array.shape
        names = tuple(channels) if channels is not None else _DEFAULT_CHANNELS.get(c, tuple(f"C{i}" for i in range(c)))
        window = (int(origin[0]), int(origin[1]), w, h)
        return cls(array, names, window, window, dict(metadata or {}))

    @property
    def width(self) -> int:
        return self.data_window[2]

    @property
    def height(self) -> int:
        return self.data_window[3]

    @property
    def dtype(self) -> np.dtype:
        return self.pixels.dtype

    def with_pixels(self, pixels: np.ndarray, channels: Sequence[str] | None = None) -> Frame:
        """A copy of this frame (windows, metadata, formats) carrying other pixels of the same size.

        Used by the engine to send a filled image out with everything else of its source frame.
        """
        names = self.channels if channels is None else tuple(channels)
        formats = self.channel_formats if channels is None else None
        return dataclasses.replace(
            self,
            pixels=pixels,
            channels=names,
            metadata=dict(self.metadata),
            metadata_types=dict(self.metadata_types),
            channel_formats=formats,
        )

    def _where(self) -> str:
        return self.path or "frame"


def _as_window(value: Any, name: str) -> Window:
    try:
        x, y, w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise SequenceError(f"{name} must be (x, y, width, height), got {value!r}") from None
    if w <= 0 or h <= 0:
        raise SequenceError(f"{name} {value!r} is empty: width and height must be positive")
    return (x, y, w, h)
