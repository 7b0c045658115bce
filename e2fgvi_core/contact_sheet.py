"""Contact sheets: a few frames of a shot side by side in one 8-bit image, for a look before dailies.

Why one module: ``e2fgvi demo`` draws before | after | clean plate and ``e2fgvi remove --contact-sheet`` draws
plate | matte | result; both pick the frames, turn pixels into display 8-bit and lay out the cells here, so the two
sheets look alike. A sheet is a preview: float plates are shown through the sRGB curve (no OCIO view transform),
integer plates as they are.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from e2fgvi_core.errors import ConfigError
from e2fgvi_core.io.colour import encode_srgb

__all__ = [
    "SAMPLE_FRAMES",
    "SHEET_SUFFIXES",
    "check_sheet_path",
    "display_uint8",
    "draw_sheet",
    "outline_matte",
    "removal_sheet",
    "sample_positions",
    "write_removal_sheet",
]

SAMPLE_FRAMES = 4
"""Rows of a sheet: the first and last frame and evenly spaced ones between."""
GAP_PX = 4
SHEET_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
"""8-bit image formats a sheet is written in."""
OUTLINE_RGB = (255, 64, 32)


def sample_positions(count: int, samples: int = SAMPLE_FRAMES) -> list[int]:
    """Indices of up to ``samples`` evenly spaced items of ``count`` (first and last included)."""
    if count <= 0:
        return []
    return sorted({int(i) for i in np.linspace(0, count - 1, min(samples, count)).round()})


def display_uint8(pixels: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 for display from (h, w, c>=1) pixels: float scene-linear through the sRGB curve, uint16
    scaled, uint8 as is; one channel (a matte) is shown grey."""
    image = pixels if pixels.ndim == 3 else pixels[..., None]
    image = np.repeat(image[..., :1], 3, axis=-1) if image.shape[-1] < 3 else image[..., :3]
    if np.issubdtype(image.dtype, np.floating):
        encoded = np.clip(np.nan_to_num(encode_srgb(image.astype(np.float32)), nan=0.0), 0.0, 1.0)
        return (encoded * 255 + 0.5).astype(np.uint8)
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return image.astype(np.uint8)


def outline_matte(cell: np.ndarray, matte: np.ndarray, rgb: tuple[int, int, int] = OUTLINE_RGB) -> np.ndarray:
    """``cell`` with the edge of the (h, w) bool ``matte`` drawn on it (a copy)."""
    import cv2

    edge = cv2.morphologyEx(matte.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
    drawn = cell.copy()
    drawn[edge] = rgb
    return drawn


def draw_sheet(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """One uint8 image: each row's (h, w, 3) uint8 cells left to right, rows top to bottom, white gaps between."""
    lines = []
    for cells in rows:
        height = cells[0].shape[0]
        gap = np.full((height, GAP_PX, 3), 255, np.uint8)
        parts: list[np.ndarray] = []
        for cell in cells:
            parts += [cell, gap]
        lines.append(np.concatenate(parts[:-1], axis=1))
    width = max(line.shape[1] for line in lines)
    padded = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0)), constant_values=255) for line in lines]
    stacked: list[np.ndarray] = []
    for line in padded:
        stacked += [line, np.full((GAP_PX, width, 3), 255, np.uint8)]
    return np.concatenate(stacked[:-1], axis=0)


def check_sheet_path(path: str, request) -> None:
    """Refuse, before any work, a sheet path of another format or one that is a frame of the plate, matte or
    output (compared as files, as ``--out`` is)."""
    from e2fgvi_core.io.sequence import FrameSequence, check_outputs_spare_inputs, file_identities

    if os.path.splitext(path)[1].lower() not in SHEET_SUFFIXES:
        raise ConfigError(f"--contact-sheet {path}: give a {', '.join(SHEET_SUFFIXES)} file")
    patterns = [p for p in (request.plate, request.matte, request.out) if p]
    frames = [FrameSequence(p).path(f) for p in patterns for f in FrameSequence(p).scan()]
    check_outputs_spare_inputs([path], file_identities(frames), "--contact-sheet")


def removal_sheet(request, frames: Sequence[int]) -> np.ndarray:
    """plate (matte outlined) | hole used (the matte after the job's channel, threshold, invert and dilate
    rules, white) | result, for up to ``SAMPLE_FRAMES`` of ``frames`` (written frames of ``request``), on each
    plate's display window. The hole comes from ``removal.hole``, the rules the run used, never a copy of them."""
    from e2fgvi_core.io.channels import rgb_channel_indices
    from e2fgvi_core.io.reader import read_frame
    from e2fgvi_core.io.sequence import FrameSequence
    from e2fgvi_core.io.windows import on_display_window
    from e2fgvi_core.removal.hole import frame_hole, matte_of_frame

    plate_files, out_files = FrameSequence(request.plate), FrameSequence(request.out)
    matte_files = FrameSequence(request.matte) if request.matte else None
    frames = [f for f in frames if os.path.isfile(out_files.path(f))]  # a cancelled or resumed run: what exists
    if not frames:
        raise ConfigError(f"--contact-sheet: no frame of {request.out} was written to draw")
    rows = []
    for i in sample_positions(len(frames)):
        number = frames[i]
        plate = on_display_window(read_frame(plate_files.path(number)))
        matte_frame = read_frame(matte_files.path(number)) if matte_files else None
        matte, _ = matte_of_frame(plate, matte_frame, request.matte_config, note=False)
        hole = frame_hole(matte, request.matte_config)
        result = on_display_window(read_frame(out_files.path(number)))
        rgb = list(rgb_channel_indices(plate.channels))
        out_rgb = list(rgb_channel_indices(result.channels))
        plate_cell = display_uint8(plate.pixels[..., rgb])
        hole_cell = np.repeat((hole[..., None] * np.uint8(255)).astype(np.uint8), 3, axis=-1)
        rows.append([outline_matte(plate_cell, hole), hole_cell, display_uint8(result.pixels[..., out_rgb])])
    return draw_sheet(rows)


def write_removal_sheet(path: str, request, frames: Sequence[int]) -> str:
    """Draw ``removal_sheet`` and write it to ``path`` (atomically, as every frame); returns the path."""
    from e2fgvi_core.io import Frame, write_frame

    write_frame(path, Frame.from_array(np.ascontiguousarray(removal_sheet(request, frames))))
    return path
