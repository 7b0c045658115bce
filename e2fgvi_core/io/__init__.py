"""Image-sequence I/O through OpenImageIO: frames in their native dtype, patterns, mattes, colour (no torch).

``from e2fgvi_core.io import read_frame, write_frame, FrameSequence, resolve_frames, matte_from_frame`` covers the
common path; see docs/io.md.
"""

from e2fgvi_core.io.frame import Frame, Window
from e2fgvi_core.io.reader import FrameHeader, read_frame, read_header
from e2fgvi_core.io.sequence import FrameSequence, format_frame_ranges, parse_frame_range, resolve_frames
from e2fgvi_core.io.writer import PROVENANCE_PREFIX, write_frame

__all__ = [
    "Frame",
    "FrameHeader",
    "FrameSequence",
    "PROVENANCE_PREFIX",
    "Window",
    "format_frame_ranges",
    "parse_frame_range",
    "read_frame",
    "read_header",
    "resolve_frames",
    "write_frame",
]
