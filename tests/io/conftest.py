"""Fixtures for the io tests: small real image files written with OpenImageIO directly (not with our writer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest


def write_with_oiio(
    path: Path,
    pixels: np.ndarray,
    channels: tuple[str, ...] | None = None,
    file_format: str | None = None,
    attributes: dict | None = None,
    data_origin: tuple[int, int] = (0, 0),
    display_window: tuple[int, int, int, int] | None = None,
    channel_formats: tuple[str, ...] | None = None,
) -> Path:
    """Write an image with plain OpenImageIO so our reader is tested against files it did not produce."""
    array = pixels if pixels.ndim == 3 else pixels[:, :, None]
    h, w, c = array.shape
    fmt = file_format or {"float16": "half", "float32": "float", "uint8": "uint8", "uint16": "uint16"}[str(array.dtype)]
    spec = oiio.ImageSpec(w, h, c, fmt)
    if channels:
        spec.channelnames = channels
    if channel_formats:
        spec.channelformats = tuple(oiio.TypeDesc(f) for f in channel_formats)
    spec.x, spec.y = data_origin
    if display_window:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = display_window
    if not str(path).endswith(".exr"):
        spec.attribute("oiio:UnassociatedAlpha", 1)  # store the given values, do not divide colour by alpha
    for key, value in (attributes or {}).items():
        spec.attribute(key, value)
    out = oiio.ImageOutput.create(str(path))
    assert out is not None, oiio.geterror()
    assert out.open(str(path), spec), out.geterror()
    assert out.write_image(np.ascontiguousarray(array)), out.geterror()
    assert out.close()
    return path


@pytest.fixture
def oiio_write():
    """The plain-OpenImageIO writer above, as a fixture (test modules cannot import conftest safely)."""
    return write_with_oiio


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def make_sequence(tmp_path):
    """``make_sequence(frames, name="plate.%04d.png", size=(8, 6))`` writes small uint8 RGB frames."""

    def make(frames, name: str = "plate.%04d.png", size: tuple[int, int] = (8, 6), channels: int = 3) -> str:
        pattern = str(tmp_path / name)
        for frame in frames:
            value = np.full((size[1], size[0], channels), frame % 251, dtype=np.uint8)
            write_with_oiio(Path(pattern % frame), value)
        return pattern

    return make
