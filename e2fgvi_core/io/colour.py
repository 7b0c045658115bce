"""Colour: scene-linear plates in, display-referred pixels for the model, and back.

E2FGVI was trained on display-referred sRGB video, while VFX plates are scene-linear EXR. Float plates are
converted to display encoding before the model and back after it; integer plates (8/16-bit PNG, TIFF, DPX, JPEG)
are display-referred already and used as they are (``is_scene_linear``).

Two converters share one interface (``to_display`` / ``to_linear`` on (..., 3) float arrays, float32 out):

* ``SrgbTransform`` (default): the exact piecewise sRGB curve (IEC 61966-2-1), no gamut change. It is defined on
  the whole real line: negatives are mirrored (``-f(-x)``) and values above 1 follow the power segment (linear
  2.0 -> 1.353), so HDR pixels never become NaN and ``to_linear(to_display(x)) == x`` to float32 rounding.
* ``OcioTransform`` (``ColourConfig(colorspace="ACEScg")``): OpenColorIO from that colourspace to an sRGB-encoded
  display-referred one and back, with ``$OCIO`` when set, else the wheel's built-in ``ocio://default`` config.

Neither clips: values outside [0, 1] after ``to_display`` are the caller's business (the engine clips model inputs
to [0, 1] and composites only inside the matte, so pixels outside it keep their exact HDR values). NaN and Inf pass
through unchanged; ``find_non_finite`` counts them so the engine can warn before they reach the model.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.schema import request_field

__all__ = [
    "ColourConfig",
    "ColourTransform",
    "OcioTransform",
    "SrgbTransform",
    "build_colour_transform",
    "decode_srgb",
    "encode_srgb",
    "find_non_finite",
    "is_scene_linear",
    "to_display",
    "to_linear",
]

_SRGB_LINEAR_CUTOFF = 0.0031308
_SRGB_DISPLAY_CUTOFF = _SRGB_LINEAR_CUTOFF * 12.92  # the curve's own value there, so both sides switch together
_BUILTIN_OCIO_CONFIG = "ocio://default"
# Display-referred sRGB-encoded colourspaces, by the names and aliases common configs use for them.
_DISPLAY_CANDIDATES = (
    "sRGB Encoded Rec.709 (sRGB)",
    "srgb_tx",
    "sRGB - Texture",
    "Utility - sRGB - Texture",
    "srgb_texture",
    "sRGB",
)
_LISTED_NAMES = 15


@dataclass(frozen=True)
class ColourConfig:
    """How float plates are converted for the model.

    ``colorspace``: the plate's scene-linear colourspace in an OpenColorIO config (``"ACEScg"``,
    ``"lin_rec709"``); None uses the plain sRGB curve. ``display``: the display-referred colourspace the model sees
    (None = the config's sRGB-encoded Rec.709 space). ``ocio_config``: a config file or ``ocio://`` URI (None =
    ``$OCIO``, else the built-in default config).
    ``exposure``: what float plates are divided by before the model and the fill multiplied by after it (None: the
    shot's exposure, measured around the matte on its first frame; ``removal/exposure.py``). ``highlight_rolloff``:
    a knee in (0, 1) above which exposure-normalised values are compressed into [knee, 1) for the model and
    expanded back after it (None: no roll-off, values above the exposure are clipped for the model).
    """

    colorspace: str | None = request_field(
        None,
        help="OpenColorIO colourspace of the plate (default: linear sRGB curve)",
        cli_group="colour",
        label="Colourspace",
    )
    display: str | None = request_field(
        None, help="OpenColorIO display-referred colourspace the model sees (needs --colorspace)", cli_group="colour"
    )
    ocio_config: str | None = request_field(
        None,
        help="OpenColorIO config file or ocio:// URI (default: $OCIO, else built-in)",
        path="read",
        cli_group="colour",
    )
    exposure: float | None = request_field(
        None, help="divide float plates by this (default: measured per shot)", cli_group="colour"
    )
    highlight_rolloff: float | None = request_field(
        None, help="compress highlights above KNEE in (0, 1) for the model", cli_group="colour",
        cli={"metavar": "KNEE"},
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.exposure is not None and not (_is_number(self.exposure) and 0 < self.exposure < float("inf")):
            raise ConfigError(f"exposure must be a positive number (or None: measured), got {self.exposure!r}")
        if self.highlight_rolloff is not None and not (
            _is_number(self.highlight_rolloff) and 0 < self.highlight_rolloff < 1
        ):
            raise ConfigError(f"highlight_rolloff must be a knee in (0, 1), got {self.highlight_rolloff!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> ColourConfig:
        names = ("colorspace", "display", "ocio_config")
        numbers = ("exposure", "highlight_rolloff")
        values: dict[str, Any] = {}
        for key, value in mapping.items():
            if key not in names + numbers:
                raise ConfigError(f"unknown colour setting {key!r}; valid: {', '.join(names + numbers)}")
            if key in numbers:
                if isinstance(value, str) and value.strip():
                    try:
                        value = float(value)
                    except ValueError:
                        raise ConfigError(f"colour setting {key!r} must be a number, got {value!r}") from None
                values[key] = value
            elif value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"colour setting {key!r} must be a non-empty string or None, got {value!r}")
            else:
                values[key] = value
        if mapping.get("display") and not mapping.get("colorspace"):
            raise ConfigError("colour setting 'display' needs 'colorspace' (the sRGB curve has no display choice)")
        return cls(**values)

    @property
    def uses_ocio(self) -> bool:
        return self.colorspace is not None


class ColourTransform(Protocol):
    """Scene-linear <-> display-referred, on (..., 3) float arrays; returns new float32 arrays."""

    name: str

    def to_display(self, rgb_linear: np.ndarray) -> np.ndarray: ...

    def to_linear(self, rgb_display: np.ndarray) -> np.ndarray: ...


class SrgbTransform:
    """The sRGB transfer function on each channel; primaries unchanged."""

    name = "srgb"

    def to_display(self, rgb_linear: np.ndarray) -> np.ndarray:
        return encode_srgb(rgb_linear)

    def to_linear(self, rgb_display: np.ndarray) -> np.ndarray:
        return decode_srgb(rgb_display)


class OcioTransform:
    """OpenColorIO processors from ``colorspace`` to ``display`` and back (lossless CPU optimisation)."""

    def __init__(self, config: ColourConfig) -> None:
        ocio = _import_ocio(config.colorspace)
        source = config.ocio_config or os.environ.get("OCIO") or _BUILTIN_OCIO_CONFIG
        try:
            ocio_config = ocio.Config.CreateFromFile(source)
        except Exception as exc:  # OCIO raises its own Exception type with a useful message
            where = "$OCIO" if not config.ocio_config and os.environ.get("OCIO") else "OpenColorIO config"
            raise ConfigError(f"cannot load {where} {source}: {' '.join(str(exc).split())}") from exc
        colorspace = _colourspace(ocio_config, config.colorspace, source, "colorspace")
        display = _colourspace(ocio_config, config.display, source, "display") if config.display else None
        if display is None:
            display = next((n for n in _DISPLAY_CANDIDATES if ocio_config.getColorSpace(n) is not None), None)
            if display is None:
                raise ConfigError(
                    f"OpenColorIO config {source} has no sRGB-encoded colourspace; set the display explicitly, e.g. "
                    f"one of: {_list_names(ocio_config)}"
                )
            display = ocio_config.getColorSpace(display).getName()
        flags = ocio.OPTIMIZATION_LOSSLESS
        depth = ocio.BIT_DEPTH_F32
        try:
            self._forward = ocio_config.getProcessor(colorspace, display).getOptimizedCPUProcessor(depth, depth, flags)
            self._inverse = ocio_config.getProcessor(display, colorspace).getOptimizedCPUProcessor(depth, depth, flags)
        except Exception as exc:
            raise ConfigError(f"OpenColorIO cannot convert {colorspace} <-> {display}: {exc}") from exc
        self.name = f"ocio:{colorspace}->{display}"
        self.colorspace = colorspace
        self.display = display
        self.config_source = source

    def to_display(self, rgb_linear: np.ndarray) -> np.ndarray:
        return _apply(self._forward, rgb_linear)

    def to_linear(self, rgb_display: np.ndarray) -> np.ndarray:
        return _apply(self._inverse, rgb_display)


def build_colour_transform(config: ColourConfig | None = None) -> ColourTransform:
    """The converter for ``config`` (cached: OpenColorIO processors are built once per config and $OCIO)."""
    config = config or ColourConfig()
    if not config.uses_ocio:
        return _SRGB
    ocio_only = ColourConfig(config.colorspace, config.display, config.ocio_config)  # exposure is not OCIO's
    return _cached_ocio(ocio_only, os.environ.get("OCIO"))


def to_display(rgb_linear: np.ndarray, config: ColourConfig | None = None) -> np.ndarray:
    """Scene-linear (..., 3) -> display-referred float32 (sRGB curve, or OpenColorIO when configured)."""
    return build_colour_transform(config).to_display(rgb_linear)


def to_linear(rgb_display: np.ndarray, config: ColourConfig | None = None) -> np.ndarray:
    """Display-referred (..., 3) -> scene-linear float32: the inverse of ``to_display``."""
    return build_colour_transform(config).to_linear(rgb_display)


def encode_srgb(linear: np.ndarray) -> np.ndarray:
    """Linear -> sRGB-encoded values, float32, for any finite input (mirrored below 0, power curve above 1).

    Computed in float32 (a 1080p RGB frame in ~0.05 s); ``decode_srgb(encode_srgb(x))`` is within 3e-7 of ``x``
    on [0, 1] and within 4e-7 relative above.
    """
    x = np.asarray(linear, dtype=np.float32)
    if x.ndim == 0:
        return encode_srgb(x.reshape(1))[0]
    magnitude = np.abs(x)
    with np.errstate(invalid="ignore", over="ignore"):
        out = np.power(magnitude, np.float32(1.0 / 2.4))
        out *= np.float32(1.055)
        out -= np.float32(0.055)
    low = magnitude <= np.float32(_SRGB_LINEAR_CUTOFF)
    out[low] = magnitude[low] * np.float32(12.92)
    return np.copysign(out, x)


def decode_srgb(encoded: np.ndarray) -> np.ndarray:
    """sRGB-encoded -> linear values, float32: the inverse of ``encode_srgb`` (same mirroring and extension)."""
    v = np.asarray(encoded, dtype=np.float32)
    if v.ndim == 0:
        return decode_srgb(v.reshape(1))[0]
    magnitude = np.abs(v)
    with np.errstate(invalid="ignore", over="ignore"):
        out = magnitude + np.float32(0.055)
        out /= np.float32(1.055)
        np.power(out, np.float32(2.4), out=out)
    low = magnitude <= np.float32(_SRGB_DISPLAY_CUTOFF)
    out[low] = magnitude[low] / np.float32(12.92)
    return np.copysign(out, v)


def is_scene_linear(value: Any) -> bool:
    """True for float pixel data (EXR, float TIFF): scene-linear; False for integer data: display-referred.

    Accepts a Frame, a FrameHeader, an array or a dtype.
    """
    if hasattr(value, "pixels"):
        dtype = value.pixels.dtype
    elif isinstance(value, np.ndarray) or not isinstance(value, (type, np.dtype, str)) and hasattr(value, "dtype"):
        dtype = value.dtype
    else:
        dtype = value
    return bool(np.issubdtype(np.dtype(dtype), np.floating))


def find_non_finite(pixels: np.ndarray) -> int:
    """How many pixels hold NaN or +-Inf in any channel ((h, w, c) arrays; elements for other shapes).

    Integer data cannot hold them and returns 0 without scanning. The engine calls this on the colour channels
    it feeds the model and warns with the count: such pixels inside the matte would otherwise spread garbage.
    """
    array = np.asarray(pixels)
    if not np.issubdtype(array.dtype, np.floating):
        return 0
    bad = ~np.isfinite(array)
    if array.ndim == 3:
        bad = bad.any(axis=2)
    return int(np.count_nonzero(bad))


_SRGB = SrgbTransform()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@functools.lru_cache(maxsize=8)
def _cached_ocio(config: ColourConfig, ocio_env: str | None) -> OcioTransform:
    return OcioTransform(config)


def _import_ocio(colorspace: str | None) -> Any:
    try:
        import PyOpenColorIO as ocio
    except ImportError as exc:
        raise ConfigError(
            f"colorspace {colorspace!r} needs OpenColorIO, which is not installed: pip install opencolorio "
            "(or leave the colourspace unset to use the sRGB curve)"
        ) from exc
    return ocio


def _colourspace(config: Any, name: str, source: str, key: str) -> str:
    colourspace = config.getColorSpace(name)
    if colourspace is None:
        raise ConfigError(f"unknown {key} {name!r} in OpenColorIO config {source}; valid: {_list_names(config)}")
    return colourspace.getName()


def _list_names(config: Any) -> str:
    """Colourspace names, scene-linear ones first (what a plate's ``colorspace`` usually is)."""
    names = sorted(config.getColorSpaceNames(), key=lambda n: config.getColorSpace(n).getEncoding() != "scene-linear")
    listed = ", ".join(names[:_LISTED_NAMES])
    return listed + (f", ... ({len(names)} in all)" if len(names) > _LISTED_NAMES else "")


def _apply(processor: Any, rgb: np.ndarray) -> np.ndarray:
    array = np.asarray(rgb)
    if array.shape[-1:] != (3,):
        raise ConfigError(f"colour conversion needs (..., 3) RGB values, got shape {array.shape}")
    out = np.array(array, dtype=np.float32, order="C", copy=True)
    processor.applyRGB(out)
    return out
