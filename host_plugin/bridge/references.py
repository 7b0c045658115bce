"""The effect's optional Reference clip: clean frames an artist painted, and which of its frames are references.

Why here and not in ``BridgeParams``: the request carries references as ``reference`` entries (``FRAMES=PATH``, the
request schema's one key), and the paths are the host's business (its rendered or painted files), like the Source and
Matte clips. What an artist sets is only *which frames* of the Reference clip are references; that setting belongs to
the clip, so ``describe()`` lists it with the clip (``REFERENCE_FRAMES``) and host adapters make their knob from it.
A reference's pixels are trusted background at its frame; its alpha, if any, says which pixels are trusted.

By path (``PathClip``/``FrameFiles``) each reference frame's file goes to the server as it is. By value
(``ArrayClip``) each frame is written once to the bridge's scratch folder, named by its content digest, so a changed
reference is a new file and the server never reads one that is being rewritten: float pixels as an EXR, 8- and
16-bit ones as a PNG of that depth (the server reads integers as display values, floats as scene-linear: ``png``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from e2fgvi_core.errors import E2fgviError
from e2fgvi_core.io.sequence import parse_frame_range

from ..client import wire
from .clips import ArrayClip, PathClip
from .errors import ParamsError
from .exr import write_exr
from .png import CHANNEL_NAMES, write_png

REFERENCE_FRAMES = {
    "name": "reference_frames",
    "type": "str",
    "default": "",
    "label": "Reference frames",
    "help": "frames of the Reference input that are clean frames you painted, e.g. 1050,1080-1082 (empty: none); "
    "their pixels are trusted background at that frame, their alpha (if any) says which pixels to trust",
}
"""The Reference clip's one setting, as ``describe()`` gives it (the host makes its knob from this)."""

_INTEGER_DTYPES = (np.uint8, np.uint16)  # display values, written as PNG of their depth (``png``)
_DEFAULT_NAMES = {1: ["Y"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}


def parse_reference_frames(frames: str | Iterable[int] | None) -> tuple[int, ...]:
    """``"1050,1080-1082"`` -> (1050, 1080, 1081, 1082); empty or None -> (); numbers are taken as they are."""
    if frames is None:
        return ()
    if not isinstance(frames, str):
        return tuple(sorted({int(f) for f in frames}))
    if not frames.strip():
        return ()
    try:
        return tuple(parse_frame_range(frames))
    except E2fgviError as exc:
        raise ParamsError(f"{REFERENCE_FRAMES['label']} ({REFERENCE_FRAMES['name']}): {exc}") from None


def check_reference_frames(frames: tuple[int, ...], shot: tuple[int, int], *, has_clip: bool) -> None:
    """Refuse, in one line, references outside the shot or without a Reference clip to take them from."""
    label = f"{REFERENCE_FRAMES['label']} ({REFERENCE_FRAMES['name']})"
    if frames and not has_clip:
        raise ParamsError(f"{label} are set: connect a Reference input, or empty {REFERENCE_FRAMES['label']}")
    outside = [f for f in frames if not shot[0] <= f <= shot[1]]
    if outside:
        raise ParamsError(f"{label}: frame {outside[0]} is outside the shot range {shot[0]}-{shot[1]}")


def scratch_folder() -> str:
    """This user's private folder for frames the bridge writes (``<temp>/e2fgvi-<uid>/bridge``, 0700)."""
    folder = os.path.join(wire.ensure_private_folder(wire.private_temp_root()), "bridge")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


def reference_entries(clip: Any, frames: tuple[int, ...], scratch: str | None, written: set[str]) -> list[str]:
    """The request's ``reference`` entries (``"N=/abs/path"``) for ``frames`` of ``clip``.

    A value clip's frames are written to ``scratch`` (``reference.N.<digest>.exr``, ``.png`` for 8- and 16-bit
    pixels) unless there already; each file written is added to ``written`` so the effect can remove them when it
    closes.
    """
    entries = []
    for number in frames:
        if isinstance(clip, PathClip):
            path = clip.path(number)
            if not path:
                raise ParamsError(f"the Reference input has no file for reference frame {number}")
        elif isinstance(clip, ArrayClip):
            folder = scratch or scratch_folder()
            pixels, names = _named_pixels(clip, number)
            integers = pixels.dtype in _INTEGER_DTYPES
            path = os.path.join(folder, f"reference.{number}.{clip.digest(number)}.{'png' if integers else 'exr'}")
            if not os.path.isfile(path):
                if not integers:
                    write_exr(path, pixels, names)
                elif names == CHANNEL_NAMES.get(len(names)):
                    write_png(path, pixels)
                else:
                    raise ParamsError(
                        f"reference frame {number} is {pixels.dtype} with channels {names}: give RGB or RGBA "
                        "(alpha = trust)"
                    )
                written.add(path)
        else:
            raise ParamsError(f"the Reference input must be a PathClip or an ArrayClip, got {type(clip).__name__}")
        entries.append(f"{number}={os.path.abspath(path)}")
    return entries


def _named_pixels(clip: ArrayClip, number: int) -> tuple[np.ndarray, list[str]]:
    """The frame's pixels (8- and 16-bit kept as they are, the rest as float32) and channel names."""
    item = clip.fetch(number)
    pixels = np.asarray(getattr(item, "pixels", item))
    if pixels.dtype not in _INTEGER_DTYPES:
        pixels = pixels.astype(np.float32)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    names = list(getattr(item, "channels", None) or clip.channels or _DEFAULT_NAMES.get(pixels.shape[-1], []))
    if len(names) != pixels.shape[-1]:
        raise ParamsError(
            f"reference frame {number} has {pixels.shape[-1]} channels: name them (RGB, or RGBA with alpha = trust)"
        )
    return pixels, names
