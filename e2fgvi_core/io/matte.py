"""Mattes: which pixels of a plate to remove.

A matte is a frame of its own sequence or a named channel of the plate itself. The channel rule, for a matte with
no channel named: its alpha when it has one, its only channel when it has one, else **any channel** over the
threshold. The last case is real footage: the DAVIS/YouTube-VOS mattes (``/work/shared/footage/*/masks``) are
palette PNGs with one colour per object, (128, 0, 0), (0, 128, 0), (0, 0, 128)...; reading only R left 13.8% of
the schoolgirls matte in the plate. ``matte_channel_note`` says when the channels disagree, so the engine can warn
with the rule it used.

The threshold: a pixel is removed where the value is > 0.5 for float data, or > 0 for integer data (the official
script's ``np.array(mask) > 0`` on 8-bit PNG mattes); ``threshold`` overrides both, on values normalised to [0, 1]
(integers divided by their maximum). ``invert`` removes where the value is *not* over the threshold. NaN never
counts as "remove", inverted or not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from e2fgvi_core.errors import ConfigError, MatteError
from e2fgvi_core.io.channels import alpha_channel_index, find_channel
from e2fgvi_core.io.frame import Frame
from e2fgvi_core.schema import request_field

__all__ = [
    "DEFAULT_DILATE",
    "DEFAULT_MATTE_CHANNEL_OUT",
    "FLOAT_THRESHOLD",
    "MatteConfig",
    "matte_channel_index",
    "matte_channel_indices",
    "matte_channel_note",
    "matte_for_plate",
    "matte_from_frame",
]

FLOAT_THRESHOLD = 0.5
DEFAULT_MATTE_CHANNEL_OUT = "matte.A"  # the layer.channel Nuke shows as the "matte" layer's alpha
DEFAULT_DILATE = 4  # iterations of the official 3x3 cross (test.py: cv2.dilate(..., iterations=4))

FrameLike = Frame | Any  # a Frame or a FrameHeader (anything with channels, data/display windows, path)


@dataclass(frozen=True)
class MatteConfig:
    """How a matte becomes the hole, and how the fill meets the plate at its edge.

    ``channel``: the matte frames' channel (None: alpha, else the only channel, else any channel).
    ``threshold``: removal threshold on [0, 1]-normalised values (None: > 0.5 for float, > 0 for integer data).
    ``invert``: remove where the matte is *not* over the threshold (a holdout matte).
    ``dilate``: iterations of the 3x3 cross that grow the matte into the hole (4, the official script; 0: none).
    ``feather``: width in pixels of the soft edge of the composite, inside the hole (0: hard edge, the official
    composite). Pixels outside the dilated hole are never touched, whatever the feather.
    ``write``: a sequence pattern to write the matte actually used (after threshold, invert, dilation and feather:
    the fill's weight, 0..1) for every written frame, so an artist can check it in the viewer (None: not written).
    ``channel_out``: a channel name (``matte.A``) under which float (EXR) results also carry that matte.
    """

    channel: str | None = request_field(
        None,
        help="channel of the matte (default: alpha, else any channel over threshold)",
        cli_group="matte",
        label="Matte channel",
    )
    threshold: float | None = request_field(
        None, help="remove above this [0, 1) value (0.5 float, 0 integer)", cli_group="matte"
    )
    invert: bool = request_field(
        False,
        help="remove where the matte is NOT set",
        cli_group="matte",
        cli={"action": "store_true", "default": None},
    )
    dilate: int = request_field(
        DEFAULT_DILATE,
        help=f"grow the matte N times by a 3x3 cross ({DEFAULT_DILATE}: the official script)",
        flag="--dilate",
        cli_group="matte",
        label="Dilation",
        minimum=0,
        maximum=256,
    )
    feather: int = request_field(
        0,
        help="soft composite edge N pixels wide, inside the hole (0: hard edge)",
        flag="--feather",
        cli_group="matte",
        label="Feather",
        minimum=0,
        maximum=256,
    )
    write: str | None = request_field(
        None,
        help="also write the matte used",
        path="write",
        pixels=False,
        flag="--write-matte",
        cli_group="matte",
        cli={"metavar": "PATTERN"},
    )
    channel_out: str | None = request_field(
        None, help=f"EXR output also carries the matte used as channel NAME ({DEFAULT_MATTE_CHANNEL_OUT})",
        cli_group="matte", cli={"nargs": "?", "const": DEFAULT_MATTE_CHANNEL_OUT, "metavar": "NAME"},
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.channel is not None and (not isinstance(self.channel, str) or not self.channel.strip()):
            raise ConfigError(f"matte setting 'channel' must be a channel name or None, got {self.channel!r}")
        if self.threshold is not None:
            if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)):
                raise ConfigError(f"matte_threshold must be a number in [0, 1), got {self.threshold!r}")
            if not 0.0 <= float(self.threshold) < 1.0:
                raise ConfigError(f"matte_threshold must be in [0, 1), got {self.threshold!r}")
        for name in ("write", "channel_out"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"matte setting {name!r} must be a non-empty string or None, got {value!r}")
        if not isinstance(self.invert, bool):
            raise ConfigError(f"matte_invert must be true or false, got {self.invert!r}")
        for name in ("dilate", "feather"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 256:
                raise ConfigError(f"{name} must be a whole number of pixels in 0..256, got {value!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> MatteConfig:
        """Validate the fields by name (None keeps the default); strings are accepted for numbers."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = set(mapping) - set(names)
        if unknown:
            raise ConfigError(f"unknown matte setting {min(unknown)!r}; valid: {', '.join(names)}")
        values = {k: v for k, v in mapping.items() if v is not None}
        if "threshold" in values and isinstance(values["threshold"], str):
            values["threshold"] = _number("matte_threshold", values["threshold"], float)
        for name in ("dilate", "feather"):
            if name in values and isinstance(values[name], (str, float)) and not isinstance(values[name], bool):
                values[name] = _number(name, values[name], int)
        return cls(**values)


def _number(name: str, value: Any, kind: type) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if kind is int:
        if number != int(number):
            raise ConfigError(f"{name} must be a whole number of pixels, got {value!r}")
        return int(number)
    return number


def matte_channel_indices(frame: FrameLike, channel: str | None = None) -> tuple[int, ...]:
    """The channels a matte is read from: ``channel`` by name, else alpha, else every channel (any of them)."""
    channels = tuple(frame.channels)
    if channel is None:
        alpha = alpha_channel_index(channels)
        return tuple(range(len(channels))) if alpha is None else (alpha,)
    index = find_channel(channels, channel)
    if index is None:
        where = getattr(frame, "path", None) or "matte"
        raise MatteError(f"{where}: no channel {channel!r}; available channels: {', '.join(channels)}")
    return (index,)


def matte_channel_index(frame: FrameLike, channel: str | None = None) -> int:
    """The first channel the matte is read from (see ``matte_channel_indices``)."""
    return matte_channel_indices(frame, channel)[0]


def _over(values: np.ndarray, threshold: float | None) -> np.ndarray:
    if np.issubdtype(values.dtype, np.floating):
        return values > (FLOAT_THRESHOLD if threshold is None else threshold)
    if threshold is None:
        return values > 0
    return values.astype(np.float64) / float(np.iinfo(values.dtype).max) > threshold


def matte_from_frame(
    frame: Frame, channel: str | None = None, *, threshold: float | None = None, invert: bool = False
) -> np.ndarray:
    """(h, w) bool, True where the pixel is to be removed, over the frame's data window (module rules)."""
    indices = matte_channel_indices(frame, channel)
    values = frame.pixels[:, :, list(indices)]
    hole = _over(values, threshold).any(axis=-1)
    if invert:
        if np.issubdtype(values.dtype, np.floating):
            hole = ~hole & np.isfinite(values).all(axis=-1)
        else:
            hole = ~hole
    return hole


def matte_channel_note(frame: Frame, channel: str | None = None, *, threshold: float | None = None) -> str | None:
    """A note when the matte is read from several channels that mark different areas (None when they agree or
    are one).

    Such a matte is a multi-colour one (a palette PNG, one colour per object), a normal input: the note says that
    every colour is removed and how to pick one object (name its channel), worded as information, not a fault.
    """
    indices = matte_channel_indices(frame, channel)
    if len(indices) < 2:
        return None
    over = _over(frame.pixels[:, :, list(indices)], threshold)
    union = over.any(axis=-1)
    disagree = union & ~over.all(axis=-1)
    if not disagree.any():
        return None
    names = ", ".join(frame.channels[i] for i in indices)
    # a palette matte (one colour per object) is normal: say what is removed and how to pick one object, no alarm
    return (
        f"{getattr(frame, 'path', None) or 'matte'}: a multi-colour matte (channels {names} mark different areas, "
        f"e.g. one colour per object): removing every coloured area, where any channel is over the threshold; "
        f"to remove one object only, name its channel with --matte-channel"
    )


def matte_for_plate(
    plate: FrameLike, matte: Frame, channel: str | None = None, *, threshold: float | None = None, invert: bool = False
) -> np.ndarray:
    """The matte as (h, w) bool over the *plate's* data window.

    Equal data windows (or equal sizes) map pixel for pixel. When both share a display window but their data
    windows differ (an EXR matte cropped to its content, a PNG matte over an EXR plate with overscan), the matte
    is placed by its coordinates and is False where it has no data. Anything else is a ``MatteError`` naming both
    sizes.
    """
    hole = matte_from_frame(matte, channel, threshold=threshold, invert=invert)
    px, py, pw, ph = plate.data_window
    mx, my, mw, mh = matte.data_window
    if (pw, ph) == (mw, mh) and ((px, py) == (mx, my) or plate.display_window != matte.display_window):
        return hole
    if plate.display_window == matte.display_window:
        placed = np.zeros((ph, pw), dtype=bool)
        x0, y0 = max(px, mx), max(py, my)
        x1, y1 = min(px + pw, mx + mw), min(py + ph, my + mh)
        if x1 > x0 and y1 > y0:
            placed[y0 - py : y1 - py, x0 - px : x1 - px] = hole[y0 - my : y1 - my, x0 - mx : x1 - mx]
        return placed
    raise MatteError(
        f"matte {getattr(matte, 'path', None) or 'frame'} is {mw}x{mh} but plate "
        f"{getattr(plate, 'path', None) or 'frame'} is {pw}x{ph}: the matte must match the plate's size "
        f"(or share its display window)"
    )
