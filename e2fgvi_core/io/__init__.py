"""Image-sequence I/O through OpenImageIO: frames in their native dtype, patterns, mattes, colour (no torch).

``from e2fgvi_core.io import read_frame, write_frame, FrameSequence, resolve_frames, matte_from_frame`` covers the
common path; see docs/io.md. The names load on first use (PEP 562), so importing a light module of this package
(``io.sequence``, ``io.colour``'s ``ColourConfig``: the request schema, which the host side reads) does not load
OpenImageIO.
"""

import importlib
from typing import Any

_EXPORTS = {
    "alpha_channel_index": "channels",
    "find_channel": "channels",
    "rgb_channel_indices": "channels",
    "ColourConfig": "colour",
    "build_colour_transform": "colour",
    "find_non_finite": "colour",
    "is_scene_linear": "colour",
    "to_display": "colour",
    "to_linear": "colour",
    "Frame": "frame",
    "Window": "frame",
    "MatteConfig": "matte",
    "matte_for_plate": "matte",
    "matte_from_frame": "matte",
    "FrameHeader": "reader",
    "read_frame": "reader",
    "read_header": "reader",
    "FrameSequence": "sequence",
    "format_frame_ranges": "sequence",
    "parse_frame_range": "sequence",
    "resolve_frames": "sequence",
    "PROVENANCE_PREFIX": "writer",
    "check_output_folder": "writer",
    "write_frame": "writer",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
