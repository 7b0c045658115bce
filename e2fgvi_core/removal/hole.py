"""The hole of each frame: the matte read by the job's matte rules, dilated, and the warnings it deserves.

The runner asks this module, frame by frame, which pixels to fill, so the rules live in one place: the channel
and threshold rules of ``io.matte`` (``MatteConfig``), the official 3x3-cross dilation ``dilate`` times, and the
checks an artist wants to hear about: NaN or Inf inside the hole (the model would read them as 0) when the frame is
read, a multi-colour matte (every colour is removed) once per shot. A matte empty on every frame and a matte
covering (nearly) the whole frame (nothing is left to fill from) are shot-level checks, ``empty_shot_warning`` and
``nearly_full_warning``: said once, with the frame count, not once per frame.
"""

from __future__ import annotations

import numpy as np

from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.matte import MatteConfig, matte_channel_note, matte_for_plate, matte_from_frame
from e2fgvi_core.removal.prepare import dilate_hole

__all__ = [
    "NEARLY_FULL_SHARE",
    "empty_shot_warning",
    "frame_hole",
    "hole_share",
    "hole_warnings",
    "matte_of_frame",
    "nearly_full_warning",
]

NEARLY_FULL_SHARE = 0.9
"""A hole covering more than this share of the frame leaves too little plate to fill it from."""


def matte_of_frame(
    plate: Frame, matte_frame: Frame | None, config: MatteConfig, note: bool = True
) -> tuple[np.ndarray, str | None]:
    """((h, w) bool matte over the plate's data window, channel note or None).

    Without ``matte_frame`` the matte is a channel of the plate (``config.channel``, alpha by default). ``note``
    False skips the channel note (a second pass over every channel; the runner needs it once per shot).
    """
    if matte_frame is None:
        channel = config.channel or "A"
        matte = matte_from_frame(plate, channel, threshold=config.threshold, invert=config.invert)
        return matte, None
    matte = matte_for_plate(plate, matte_frame, config.channel, threshold=config.threshold, invert=config.invert)
    return matte, matte_channel_note(matte_frame, config.channel, threshold=config.threshold) if note else None


def frame_hole(matte: np.ndarray, config: MatteConfig) -> np.ndarray:
    """(h, w) bool hole: the matte dilated ``config.dilate`` times with the official 3x3 cross (0: the matte)."""
    if config.dilate == 0:
        return np.ascontiguousarray(matte, dtype=bool)
    return dilate_hole(matte, config.dilate)


def hole_share(hole: np.ndarray) -> float:
    """The share of the frame the (dilated) hole covers, 0..1 (compared with ``NEARLY_FULL_SHARE``)."""
    return float(hole.mean()) if hole.size else 0.0


def nearly_full_warning(shares: dict[int, float], frames_read: int) -> str | None:
    """One warning for the frames whose hole covers more than ``NEARLY_FULL_SHARE`` (``{frame: share}`` of every
    frame read), with their count and range; None when there are none. Once per shot: a matte that covers the
    frame usually covers it on every frame, and one line per frame buried everything else."""
    from e2fgvi_core.io.sequence import format_frame_ranges

    full = {frame: share for frame, share in shares.items() if share > NEARLY_FULL_SHARE}
    if not full:
        return None
    ranges = format_frame_ranges(full)
    listed = ranges if len(ranges) <= 60 else ranges[:60].rsplit(",", 1)[0] + ", ..."
    return (
        f"the (dilated) matte covers more than {100 * NEARLY_FULL_SHARE:.0f}% of the frame on {len(full)} of "
        f"{frames_read} frames read ({listed}; up to {100 * max(full.values()):.1f}%): almost nothing of the plate "
        f"is left to fill them from, expect a poor fill (check the matte, --matte-invert or --matte-threshold)"
    )


def hole_warnings(where: str, hole: np.ndarray, rgb_values: np.ndarray) -> list[str]:
    """Warnings about one frame's hole: NaN/Inf plate values inside it (a nearly full hole is counted per shot,
    ``nearly_full_warning``).

    ``rgb_values``: the plate's colour channels, (h, w, 3) in their native dtype, over the same pixels as ``hole``.
    """
    messages = []
    if np.issubdtype(rgb_values.dtype, np.floating) and hole.any():
        bad = ~np.isfinite(rgb_values[hole]).all(axis=-1)
        count = int(bad.sum())
        if count:
            messages.append(
                f"{where}: {count} pixels inside the matte hold NaN or Inf; the model reads them as 0 and the fill "
                f"replaces them"
            )
    return messages


def empty_shot_warning(frames_read: int, frames_with_hole: int) -> str | None:
    """The warning for a matte that is empty on every frame read (nothing was removed), else None."""
    if frames_read and not frames_with_hole:
        return (
            f"the matte is empty on all {frames_read} frames read: nothing was removed and the frames were "
            f"written unchanged (check --matte, --matte-channel, --matte-threshold)"
        )
    return None
