"""Fixtures for the io tests: small real image files written with OpenImageIO directly (``e2fgvi_core.testing``),
not with our writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from e2fgvi_core.testing import write_with_oiio


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
