"""The effect's input clips, by path or by value, each able to give a content digest of any frame.

Why digests: the frame cache must drop exactly the results a changed input frame affects, whatever the host does
(re-render a node upstream, repaint a matte, replace a file). A path clip hashes the file's bytes (re-hashed only
when its size or modification time changes); a value clip hashes the pixels the host hands over. Frame numbers
are absolute plate frames (1001), as in the engine.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

_PRINTF = re.compile(r"%0?(\d*)d")
_HASHES = re.compile(r"#+|@+")
_READ_CHUNK_BYTES = 1 << 20


def frame_path(pattern: str, frame: int) -> str:
    """``plate.%04d.exr`` / ``plate.####.exr`` / ``plate.@@@@.exr`` -> the file of ``frame``."""
    if _PRINTF.search(pattern):
        return _PRINTF.sub(lambda m: f"{frame:0{m.group(1) or 1}d}", pattern, count=1)
    if _HASHES.search(pattern):
        return _HASHES.sub(lambda m: f"{frame:0{len(m.group(0))}d}", pattern, count=1)
    return pattern  # a single file stands for every frame


class PathClip:
    """Frames on storage the server can read (the adapter renders its inputs to files, or they exist already).

    ``reader(path) -> (h, w, c) array`` is optional: with it the bridge can look at the pixels (``is_identity``);
    without it the bridge never opens an image (host Pythons may lack an image library).
    """

    def __init__(self, pattern: str, reader: Callable[[str], np.ndarray] | None = None) -> None:
        self.pattern = str(pattern)
        self.reader = reader
        self._digests: dict[str, tuple[tuple[int, int], str]] = {}

    def path(self, frame: int) -> str:
        return frame_path(self.pattern, frame)

    def digest(self, frame: int) -> str:
        path = self.path(frame)
        try:
            stat = os.stat(path) if path else None
        except OSError:
            stat = None
        if stat is None:
            return "missing"
        stamp = (stat.st_size, stat.st_mtime_ns)
        known = self._digests.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        hasher = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(_READ_CHUNK_BYTES), b""):
                hasher.update(block)
        self._digests[path] = (stamp, hasher.hexdigest())
        return hasher.hexdigest()

    def pixels(self, frame: int) -> np.ndarray | None:
        return None if self.reader is None else np.asarray(self.reader(self.path(frame)))


class FrameFiles(PathClip):
    """Frames as loose files, one per frame number (``{1050: "/paint/clean_a.png"}``): a painted reference frame
    is a file named however the artist saved it, not a numbered sequence. Digests as ``PathClip``."""

    def __init__(self, files: Mapping[int, str], reader: Callable[[str], np.ndarray] | None = None) -> None:
        super().__init__("", reader)
        self.files = {int(frame): str(path) for frame, path in files.items()}

    def path(self, frame: int) -> str:
        return self.files.get(frame, "")


class ArrayClip:
    """Frames by value: ``fetch(frame)`` returns an (h, w[, c]) array or an object with ``.pixels``/``.channels``.

    ``channels`` names the channels when the host's arrays carry no names (default by count: Y, RGB, RGBA).
    """

    def __init__(self, fetch: Callable[[int], Any], channels: list[str] | None = None) -> None:
        self.fetch = fetch
        self.channels = list(channels) if channels else None

    def value(self, frame: int) -> Any:
        """What travels to the server for ``frame``: the host's object, or the array with this clip's names."""
        item = self.fetch(frame)
        if self.channels and not hasattr(item, "pixels"):
            return _NamedPixels(np.asarray(item), self.channels)
        return item

    def pixels(self, frame: int) -> np.ndarray:
        item = self.fetch(frame)
        return np.asarray(getattr(item, "pixels", item))

    def digest(self, frame: int) -> str:
        item = self.fetch(frame)
        pixels = np.ascontiguousarray(getattr(item, "pixels", item))
        names = getattr(item, "channels", None) or self.channels or []
        hasher = hashlib.blake2b(digest_size=16)
        hasher.update(f"{pixels.dtype.str}{pixels.shape}{list(names)}".encode())
        hasher.update(memoryview(pixels).cast("B"))
        return hasher.hexdigest()


class _NamedPixels:
    """An array with channel names, as the client's by-value submit reads them (``.pixels``/``.channels``)."""

    def __init__(self, pixels: np.ndarray, channels: list[str]) -> None:
        self.pixels = pixels
        self.channels = channels
