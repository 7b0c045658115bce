"""Colour and pixels on real EXR files: scene-linear in, display for the model, linear back; outside the matte
every channel of every pixel bit-identical (HDR, negatives, alpha, extra channels, NaN); metadata carried over."""

from __future__ import annotations

import numpy as np
import pytest

from e2fgvi_core.errors import SequenceError
from e2fgvi_core.io import Frame, read_frame, write_frame
from e2fgvi_core.removal.api import RemovalRequest, run_removal
from e2fgvi_core.removal.prepare import dilate_hole

H, W, T = 48, 80, 6


def _write_plate(folder, grey: bool = False):
    rng = np.random.default_rng(11)
    mattes = []
    for t in range(T):
        if grey:
            rgb = np.full((H, W, 3), 0.18, dtype=np.float32)
        else:
            xs = np.linspace(-0.2, 4.0, W + 2 * T, dtype=np.float32)[2 * t : 2 * t + W]
            rgb = np.stack(
                [np.broadcast_to(xs, (H, W)), np.broadcast_to(xs[::-1], (H, W)), rng.random((H, W), dtype=np.float32)],
                axis=-1,
            )
        matte = np.zeros((H, W), dtype=np.float32)
        matte[18:30, 20 + 3 * t : 34 + 3 * t] = 1.0
        mattes.append(matte > 0.5)
        alpha = rng.random((H, W), dtype=np.float32)
        depth = rng.random((H, W), dtype=np.float32) * 1000
        pixels = np.concatenate([rgb, alpha[..., None], matte[..., None], depth[..., None]], axis=-1).astype(np.float16)
        if not grey:
            pixels[2, 3, 0] = np.nan  # outside the matte: must come back as the same NaN
            pixels[24, 25 + 3 * t, 1] = np.inf  # inside: replaced by the fill, with a warning
        frame = Frame(
            pixels,
            ("R", "G", "B", "A", "mask", "Z"),
            (0, 0, W, H),
            (0, 0, W, H),
            metadata={"studio:shot": "sh010", "compression": "zip"},
        )
        write_frame(folder / f"plate.{1001 + t:04d}.exr", frame)
    return mattes


def _request(folder, **extra):
    mapping = {
        "plate": str(folder / "plate.%04d.exr"),
        "out": str(folder / "out" / "clean.%04d.exr"),
        "matte_channel": "mask",
        "engine": "propagate",
    }
    mapping.update(extra)
    return RemovalRequest.from_mapping(mapping)


def test_outside_the_matte_every_channel_is_bit_identical(tmp_path):
    mattes = _write_plate(tmp_path)
    summary = run_removal(_request(tmp_path))
    assert summary.frames_written == T
    assert any("NaN or Inf" in w for w in summary.warnings)
    for t in range(T):
        source = read_frame(tmp_path / f"plate.{1001 + t:04d}.exr")
        result = read_frame(tmp_path / "out" / f"clean.{1001 + t:04d}.exr")
        assert result.pixels.dtype == np.float16 and result.channels == source.channels
        hole = dilate_hole(mattes[t])
        same = result.pixels.view(np.uint16) == source.pixels.view(np.uint16)
        assert same[~hole].all(), "a pixel outside the matte changed"
        assert same[..., 3:].all(), "alpha / mask / Z changed inside the matte"
        assert np.isfinite(result.pixels[..., :3][hole]).all()
        assert result.metadata.get("studio:shot") == "sh010"
        assert result.metadata.get("e2fgvi:engine") == "propagate"


@pytest.mark.parametrize("colorspace", [None, "ACEScg"])
def test_fill_is_converted_back_to_linear(tmp_path, colorspace):
    """A uniform 18 % grey plate must be filled with 18 % grey in linear light (0.46 if the fill stayed display)."""
    if colorspace:
        pytest.importorskip("PyOpenColorIO")
    mattes = _write_plate(tmp_path, grey=True)
    summary = run_removal(_request(tmp_path, colorspace=colorspace))
    assert summary.frames_written == T
    for t in range(T):
        result = read_frame(tmp_path / "out" / f"clean.{1001 + t:04d}.exr")
        inside = result.pixels[..., :3][dilate_hole(mattes[t])].astype(np.float32)
        assert np.abs(inside - 0.18).max() < 0.01


def test_nan_policy_error_names_the_frame(tmp_path):
    _write_plate(tmp_path)
    with pytest.raises(SequenceError, match="plate frame 1001.*NaN or Inf"):
        run_removal(_request(tmp_path, nan_policy="error"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
