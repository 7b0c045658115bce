"""Colour conversions: exact sRGB curve, OpenColorIO colourspaces, scene-linear detection, non-finite counts."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.io import (
    ColourConfig,
    Frame,
    build_colour_transform,
    find_non_finite,
    is_scene_linear,
    read_frame,
    to_display,
    to_linear,
)
from e2fgvi_core.io.colour import decode_srgb, encode_srgb


def test_srgb_known_values():
    linear = np.array([0.0, 0.0031308, 0.18, 0.5, 1.0], np.float32)
    expected = np.array([0.0, 0.04044994, 0.46135613, 0.7353569, 1.0], np.float32)
    np.testing.assert_allclose(encode_srgb(linear), expected, atol=2e-7)
    np.testing.assert_allclose(decode_srgb(expected), linear, atol=2e-7)
    assert encode_srgb(linear).dtype == np.float32


def test_srgb_roundtrip_within_1e6(rng):
    linear = rng.random((64, 64, 3)).astype(np.float32)
    linear[0, :4, 0] = [0.0, 0.0031308, 0.00313081, 1.0]  # both sides of the break point
    back = to_linear(to_display(linear))
    assert back.dtype == np.float32
    assert np.abs(back - linear).max() <= 1e-6
    display = rng.random((16, 16, 3)).astype(np.float32)
    assert np.abs(to_display(to_linear(display)) - display).max() <= 1e-6


def test_srgb_is_defined_for_hdr_and_negative_values():
    linear = np.array([-4.0, -0.5, -1e-5, 0.0, 2.0, 16.0, 65504.0], np.float32)
    display = encode_srgb(linear)
    assert np.isfinite(display).all()
    assert display[4] == pytest.approx(1.3532561) and display[1] == pytest.approx(-0.7353569)
    assert np.all(np.diff(display) > 0), "the curve must stay monotonic outside [0, 1]"
    np.testing.assert_allclose(decode_srgb(display), linear, rtol=1e-6)


def test_non_finite_values_pass_through_and_are_counted():
    pixels = np.zeros((4, 4, 3), np.float16)
    pixels[0, 0, 0] = np.nan
    pixels[0, 0, 1] = np.inf  # same pixel: counted once
    pixels[2, 3, 2] = -np.inf
    assert find_non_finite(pixels) == 2
    assert find_non_finite(pixels[..., 0]) == 1
    assert find_non_finite(np.zeros((2, 2, 3), np.uint8)) == 0
    display = encode_srgb(pixels)
    assert np.isnan(display[0, 0, 0]) and display[0, 0, 1] == np.inf and display[2, 3, 2] == -np.inf


def test_scene_linear_detection(oiio_write, tmp_path):
    exr = read_frame(oiio_write(tmp_path / "a.exr", np.zeros((2, 2, 3), np.float16)))
    png = read_frame(oiio_write(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint16)))
    assert is_scene_linear(exr) and not is_scene_linear(png)
    assert is_scene_linear(np.float32) and not is_scene_linear(np.dtype(np.uint8))
    assert not is_scene_linear(Frame.from_array(np.zeros((1, 1, 3), np.uint8)))


def test_colour_config_from_mapping():
    assert ColourConfig.from_mapping({}) == ColourConfig()
    assert ColourConfig.from_mapping({"colorspace": "ACEScg"}).uses_ocio
    with pytest.raises(ConfigError, match="'colourspace'.*valid: colorspace"):
        ColourConfig.from_mapping({"colourspace": "ACEScg"})
    with pytest.raises(ConfigError, match="'colorspace'"):
        ColourConfig.from_mapping({"colorspace": 3})
    with pytest.raises(ConfigError, match="needs 'colorspace'"):
        ColourConfig.from_mapping({"display": "sRGB - Display"})
    assert build_colour_transform(ColourConfig()).name == "srgb"


def test_missing_opencolorio_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "PyOpenColorIO", None)  # as if the optional wheel were not installed
    with pytest.raises(ConfigError, match="pip install opencolorio"):
        build_colour_transform(ColourConfig(colorspace="ACEScg", ocio_config="ocio://default"))


class TestOpenColorIO:
    @pytest.fixture(autouse=True)
    def _ocio(self, monkeypatch):
        pytest.importorskip("PyOpenColorIO", reason="opencolorio is not installed")
        monkeypatch.delenv("OCIO", raising=False)

    @pytest.mark.parametrize("colorspace", ["ACEScg", "lin_rec709"])
    def test_roundtrip(self, rng, colorspace):
        config = ColourConfig(colorspace=colorspace)
        linear = rng.random((32, 32, 3)).astype(np.float32)
        display = to_display(linear, config)
        assert display.dtype == np.float32 and display.shape == linear.shape
        assert np.abs(to_linear(display, config) - linear).max() <= 1e-5

    def test_lin_rec709_matches_the_srgb_curve(self, rng):
        linear = rng.random((16, 16, 3)).astype(np.float32)
        np.testing.assert_allclose(
            to_display(linear, ColourConfig(colorspace="lin_rec709")), encode_srgb(linear), atol=1e-5
        )

    def test_acescg_changes_gamut(self):
        red = np.array([[[1.0, 0.0, 0.0]]], np.float32)
        display = to_display(red, ColourConfig(colorspace="ACEScg"))
        assert display[0, 0, 1] < 0 or display[0, 0, 2] < 0  # ACEScg red is outside Rec.709
        assert np.isfinite(display).all()

    def test_hdr_and_negative_values_stay_finite(self, rng):
        linear = (rng.random((16, 16, 3)) * 40 - 4).astype(np.float32)
        display = to_display(linear, ColourConfig(colorspace="ACEScg"))
        assert np.isfinite(display).all()

    def test_unknown_colourspace_lists_valid_names(self):
        with pytest.raises(ConfigError) as info:
            build_colour_transform(ColourConfig(colorspace="ACEScgg"))
        message = str(info.value)
        assert "'ACEScgg'" in message and "ACEScg" in message and "Linear Rec.709" in message
        assert "\n" not in message

    def test_ocio_environment_variable_is_used(self, monkeypatch, tmp_path):
        monkeypatch.setenv("OCIO", str(tmp_path / "missing_config.ocio"))
        with pytest.raises(ConfigError, match=r"\$OCIO .*missing_config\.ocio"):
            build_colour_transform(ColourConfig(colorspace="ACEScg"))
        monkeypatch.setenv("OCIO", "ocio://studio-config-latest")
        transform = build_colour_transform(ColourConfig(colorspace="ARRI LogC4"))
        assert transform.config_source == "ocio://studio-config-latest"
