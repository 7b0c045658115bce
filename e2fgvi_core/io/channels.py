"""Which channels of a frame are its colour and its alpha.

EXR files name channels freely (``R``, ``beauty.R``, ``Y``, ``depth.Z``); the model wants three colour channels,
and the matte defaults to alpha. The rules live here once so the engine, the matte code and the host side agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from e2fgvi_core.errors import SequenceError
from e2fgvi_core.io.frame import Frame

__all__ = ["alpha_channel_index", "find_channel", "rgb_channel_indices"]

ChannelsLike = Frame | Sequence[str]
_COLOUR_NAMES = (("r", "red"), ("g", "green"), ("b", "blue"))
_ALPHA_NAMES = ("a", "alpha")


def rgb_channel_indices(channels: ChannelsLike, layer: str | None = None) -> tuple[int, int, int]:
    """Indices of the red, green and blue channels.

    Looks for R, G, B by name (case-insensitive; also ``red``... and layer names such as ``beauty.R``, unlayered
    names first); without them the first three channels are used, and a frame with one or two channels (``Y``,
    ``Y A``) has its first channel replicated to grey. With ``layer`` only ``<layer>.R/G/B`` are accepted.
    """
    names = _names(channels)
    if not names:
        raise SequenceError("frame has no channels")
    if layer is not None:
        found = [find_channel(names, f"{layer}.{c[0]}") for c in _COLOUR_NAMES]
        if None in found:
            layers = sorted({n.rpartition(".")[0] for n in names if "." in n})
            raise SequenceError(
                f"layer {layer!r} has no R, G and B channels; channels: {', '.join(names)}; layers: "
                f"{', '.join(layers) or 'none'}"
            )
        return tuple(found)  # type: ignore[return-value]
    found = [_find_any(names, options) for options in _COLOUR_NAMES]
    if None not in found:
        return tuple(found)  # type: ignore[return-value]
    if len(names) >= 3:
        return (0, 1, 2)
    return (0, 0, 0)


def alpha_channel_index(channels: ChannelsLike) -> int | None:
    """Index of the alpha channel (``A``, ``alpha``, ``<layer>.A``; unlayered first), or None."""
    return _find_any(_names(channels), _ALPHA_NAMES)


def find_channel(channels: ChannelsLike, name: str) -> int | None:
    """Index of channel ``name``: exact match, else case-insensitive, else a unique ``<layer>.<name>``."""
    names = _names(channels)
    if name in names:
        return names.index(name)
    lowered = [n.lower() for n in names]
    if name.lower() in lowered:
        return lowered.index(name.lower())
    suffixed = [i for i, n in enumerate(lowered) if n.rpartition(".")[2] == name.lower() and "." in n]
    return suffixed[0] if len(suffixed) == 1 else None


def _find_any(names: Sequence[str], options: Sequence[str]) -> int | None:
    lowered = [n.lower() for n in names]
    for option in options:
        if option in lowered:
            return lowered.index(option)
    for option in options:
        for index, name in enumerate(lowered):
            if "." in name and name.rpartition(".")[2] == option:
                return index
    return None


def _names(channels: ChannelsLike) -> list[str]:
    return list(channels.channels if isinstance(channels, Frame) else channels)
