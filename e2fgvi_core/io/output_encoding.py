"""What the output file holds: encoding follows the output format, and channel counts the format cannot hold fail
before any work.

A plate and its output need not share a format: an artist removes on a PNG plate and writes EXR for the comp, or on
an EXR plate and writes PNG for a review. Writing the plate's values as they are would put sRGB-encoded values into
a "linear" EXR (double gamma in Nuke) or scene-linear values into 8 bits (dark, banded). So:

* **float outputs** (EXR, Radiance HDR) are scene-linear: integer plates are decoded (sRGB curve, or the
  ``--colorspace`` through OpenColorIO) and written as float32, tagged ``oiio:ColorSpace`` with the colourspace.
* **integer-only outputs** (PNG, JPEG, BMP, Targa, DPX) are display-referred: float plates are encoded (sRGB or
  OpenColorIO), clipped to [0, 1] and quantised (8 bits; 16 for DPX), tagged ``oiio:ColorSpace``.
* outputs that hold the plate's own data type (TIFF, or the plate's own format) keep the plate's values bit for bit.

``out_colorspace`` overrides the rule: ``auto`` (the rule above), ``linear`` (float output, scene-linear),
``display`` (integer output, display-referred), ``raw`` (the plate's values unchanged: the old behaviour, for
pipelines that handle the encoding themselves). Non-colour channels (alpha, mattes, depth) are scaled between
[0, max] and [0, 1] but never colour-converted.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.io.channels import rgb_channel_indices
from e2fgvi_core.io.frame import Frame

__all__ = [
    "OUT_COLORSPACES",
    "check_output_channels",
    "encode_for_output",
    "integer_dtype_for",
    "output_kind",
    "select_channels",
]

OUT_COLORSPACES = ("auto", "linear", "display", "raw")
_FLOAT_FORMATS = frozenset({"openexr", "hdr"})
_INTEGER_FORMATS = {"png": np.uint8, "jpeg": np.uint8, "bmp": np.uint8, "targa": np.uint8, "dpx": np.uint16}
# Channel counts each format can hold (None: any).
_CHANNEL_COUNTS = {"png": (1, 2, 3, 4), "jpeg": (1, 3), "bmp": (3, 4), "targa": (1, 3, 4), "hdr": (3,)}
_LINEAR_TAG = "lin_rec709_scene"  # OpenImageIO's canonical name (it rewrites lin_rec709 to this)
_DISPLAY_TAG = "sRGB"


def output_kind(out_path: str, plate_is_float: bool, out_colorspace: str | None = None) -> str:
    """``"linear"``, ``"display"`` or ``"raw"``: how ``out_path``'s format stores a plate of this kind."""
    choice = out_colorspace or "auto"
    if choice not in OUT_COLORSPACES:
        raise ConfigError(f"--out-colorspace must be one of {', '.join(OUT_COLORSPACES)}, got {choice!r}")
    format_name = _format_of(out_path)
    if choice == "raw":
        return "raw"
    if choice == "auto":
        if format_name in _FLOAT_FORMATS and not plate_is_float:
            return "linear"
        if format_name in _INTEGER_FORMATS and plate_is_float:
            return "display"
        return "raw"
    if choice == "linear" and format_name in _INTEGER_FORMATS:
        raise ConfigError(f"--out-colorspace linear: {out_path} stores integers only; write EXR for linear output")
    if choice == "display" and format_name in _FLOAT_FORMATS:
        raise ConfigError(f"--out-colorspace display: {out_path} is a float format; write PNG/TIFF/DPX for display")
    return "raw" if (choice == "linear") == plate_is_float else choice


def select_channels(channels: tuple[str, ...], wanted: str | None) -> tuple[int, ...] | None:
    """Indices of the ``--out-channels`` names (comma separated) in ``channels``; None keeps them all."""
    if not wanted:
        return None
    from e2fgvi_core.io.channels import find_channel

    indices = []
    for name in (n.strip() for n in wanted.split(",")):
        index = find_channel(channels, name) if name else None
        if index is None:
            raise ConfigError(f"--out-channels: no channel {name!r}; the result has {', '.join(channels)}")
        indices.append(index)
    return tuple(indices)


def check_output_channels(out_path: str, channels: tuple[str, ...]) -> None:
    """Fail before any work when ``out_path``'s format cannot hold ``channels``, naming the fix."""
    format_name = _format_of(out_path)
    counts = _CHANNEL_COUNTS.get(format_name or "")
    if counts is not None and len(channels) not in counts:
        keep = ",".join(channels[: max(counts)])
        raise ConfigError(
            f"--out {out_path}: {format_name.upper()} holds {'/'.join(map(str, counts))} channels but the result "
            f"has {len(channels)} ({', '.join(channels)}); keep some with --out-channels {keep} or write EXR"
        )


def encode_for_output(frame: Frame, kind: str, colour, out_path: str, colorspace_tag: str | None = None) -> Frame:
    """The frame as ``kind`` (``output_kind``) stores it; ``colour`` has ``to_display``/``to_linear`` (io.colour).

    ``raw`` returns ``frame`` itself. Colour channels go through ``colour``; other channels are only rescaled.
    """
    if kind == "raw":
        return frame
    rgb = list(dict.fromkeys(rgb_channel_indices(frame.channels)))
    pixels = frame.pixels
    if kind == "linear":
        scale = float(np.iinfo(pixels.dtype).max) if np.issubdtype(pixels.dtype, np.integer) else 1.0
        out = pixels.astype(np.float32) / np.float32(scale)
        if len(rgb) == 3:
            out[..., rgb] = colour.to_linear(out[..., rgb])
        else:
            grey = out[..., rgb[0]]
            out[..., rgb[0]] = colour.to_linear(np.repeat(grey[..., None], 3, -1))[..., 0]
        tag = colorspace_tag or _LINEAR_TAG
    else:
        dtype = integer_dtype_for(out_path)
        out = np.nan_to_num(pixels.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        if len(rgb) == 3:
            out[..., rgb] = colour.to_display(out[..., rgb])
        else:
            out[..., rgb[0]] = colour.to_display(np.repeat(out[..., rgb[0]][..., None], 3, -1))[..., 0]
        top = float(np.iinfo(dtype).max)
        out = np.clip(np.round(np.clip(out, 0.0, 1.0) * top), 0, top).astype(dtype)
        tag = colorspace_tag or _DISPLAY_TAG
    metadata = dict(frame.metadata)
    metadata["oiio:ColorSpace"] = tag
    return dataclasses.replace(
        frame, pixels=out, metadata=metadata, metadata_types=dict(frame.metadata_types), channel_formats=None
    )


def integer_dtype_for(out_path: str) -> np.dtype:
    """The integer dtype display-referred outputs of this format are written in (8 bits; 16 for DPX)."""
    return np.dtype(_INTEGER_FORMATS.get(_format_of(out_path) or "", np.uint8))


def _format_of(path: str) -> str | None:
    from e2fgvi_core.io import _oiio  # OpenImageIO loads only when an output is encoded, not with the schema

    return _oiio.format_of(path)
