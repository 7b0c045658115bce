"""Data windows on the display window, and back: how the engine handles per-frame data windows and overscan.

Nuke, OpenEXR and OpenImageIO give each frame a *data* window (the pixels the file holds) inside a *display*
window (the frame's format). Renders crop the data window to their content, tracked plates carry overscan (a
data window larger than the display window), and both can change from frame to frame. The model needs one size
per shot, so the engine processes every frame on its display window: pixels the file does not hold are 0, as
OpenEXR defines them, and pixels of the overscan are set aside. On the way out each frame gets its own data window
back: the processed display-window pixels it holds, and its overscan pixels exactly as they were read.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from e2fgvi_core.io.frame import Frame, Window

__all__ = ["on_display_window", "to_own_data_window", "window_overlap"]


def window_overlap(a: Window, b: Window) -> tuple[int, int, int, int] | None:
    """The overlap ``(x0, y0, x1, y1)`` of two windows in absolute pixel coordinates, None when they do not meet."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def on_display_window(frame: Frame) -> Frame:
    """``frame`` with pixels covering exactly its display window (0 where it has no data); the frame itself when
    its data window is the display window already (no copy)."""
    if frame.data_window == frame.display_window:
        return frame
    dx, dy, dw, dh = frame.display_window
    pixels = np.zeros((dh, dw, frame.pixels.shape[2]), dtype=frame.pixels.dtype)
    overlap = window_overlap(frame.data_window, frame.display_window)
    if overlap is not None:
        x0, y0, x1, y1 = overlap
        fx, fy = frame.data_window[:2]
        pixels[y0 - dy : y1 - dy, x0 - dx : x1 - dx] = frame.pixels[y0 - fy : y1 - fy, x0 - fx : x1 - fx]
    return _replace_pixels(frame, pixels, frame.display_window)


def to_own_data_window(processed: Frame, original: Frame) -> Frame:
    """The output frame for ``original``: its own data window, holding ``processed`` (a frame on the display
    window) where the two overlap and ``original``'s own pixels elsewhere (overscan). ``processed`` itself when
    the original's data window is its display window."""
    if original.data_window == processed.data_window:
        return processed
    pixels = original.pixels.copy()
    overlap = window_overlap(original.data_window, processed.data_window)
    if overlap is not None:
        x0, y0, x1, y1 = overlap
        ox, oy = original.data_window[:2]
        px, py = processed.data_window[:2]
        pixels[y0 - oy : y1 - oy, x0 - ox : x1 - ox] = processed.pixels[y0 - py : y1 - py, x0 - px : x1 - px]
    return _replace_pixels(processed, pixels, original.data_window)


def _replace_pixels(frame: Frame, pixels: np.ndarray, data_window: Window) -> Frame:
    return dataclasses.replace(
        frame,
        pixels=pixels,
        data_window=data_window,
        metadata=dict(frame.metadata),
        metadata_types=dict(frame.metadata_types),
    )
