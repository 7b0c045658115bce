"""Image-sequence I/O through OpenImageIO: frames in their native dtype, patterns, mattes, colour (no torch).

``from e2fgvi_core.io import read_frame, write_frame, FrameSequence, resolve_frames, matte_from_frame`` covers the
common path; see docs/io.md.
"""

from e2fgvi_core.io.channels import alpha_channel_index, find_channel, rgb_channel_indices
from e2fgvi_core.io.colour import (
    ColourConfig,
    build_colour_transform,
    find_non_finite,
    is_scene_linear,
    to_display,
    to_linear,
)
from e2fgvi_core.io.frame import Frame, Window
from e2fgvi_core.io.matte import MatteConfig, matte_for_plate, matte_from_frame
from e2fgvi_core.io.reader import FrameHeader, read_frame, read_header
from e2fgvi_core.io.sequence import FrameSequence, format_frame_ranges, parse_frame_range, resolve_frames
from e2fgvi_core.io.writer import PROVENANCE_PREFIX, check_output_folder, write_frame

__all__ = [
    "PROVENANCE_PREFIX",
    "ColourConfig",
    "Frame",
    "FrameHeader",
    "FrameSequence",
    "MatteConfig",
    "Window",
    "alpha_channel_index",
    "build_colour_transform",
    "check_output_folder",
    "find_channel",
    "find_non_finite",
    "format_frame_ranges",
    "is_scene_linear",
    "matte_for_plate",
    "matte_from_frame",
    "parse_frame_range",
    "read_frame",
    "read_header",
    "resolve_frames",
    "rgb_channel_indices",
    "to_display",
    "to_linear",
    "write_frame",
]
