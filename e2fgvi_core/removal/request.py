"""The shot contract: what a caller asks for (``RemovalRequest``) and what it gets back (``Progress``, ``RemovalSummary``).

Every caller (the CLI, the server's ``submit``, the host bridge, farm jobs) fills the same request, validated once here,
so a value one front end accepts is one every front end accepts. The loop that carries it out is ``runner``; this
module holds only the types, so both ``api`` and ``runner`` import it and neither imports the other.

Flat keys (what CLI flags, ``submit`` parameters, host knobs and farm job parameters are): the request's own keys,
the ``EngineConfig`` keys, the colour keys (``colorspace``, ``display``, ``ocio_config``), the matte keys
(``matte_<field>`` of ``MatteConfig``: ``matte_channel``) and the propagate keys (``propagate_<field>`` of
``PropagateConfig``). Nested mappings under ``config``, ``colour``, ``matte_config`` and ``propagate`` are accepted
too. Environment variables (``E2FGVI_PROPAGATE_*``, ``$OCIO``) are defaults below these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from e2fgvi_core.errors import ConfigError, SequenceError
from e2fgvi_core.io.colour import ColourConfig
from e2fgvi_core.io.matte import MatteConfig
from e2fgvi_core.io.sequence import parse_frame_range
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.removal.cache import CacheStats
from e2fgvi_core.removal.config import EngineConfig
from e2fgvi_core.removal.engines import check_engine_name

COLOUR_KEYS = ("colorspace", "display", "ocio_config", "exposure", "highlight_rolloff")
"""Flat keys of ``ColourConfig`` (its field names)."""
MATTE_PREFIX = "matte_"
PROPAGATE_PREFIX = "propagate_"
_STRING_KEYS = ("plate", "matte", "out", "shot", "frames", "weights", "device", "out_channels", "out_colorspace")


def _default_propagate() -> PropagateConfig:
    return PropagateConfig.from_mapping(None)  # the environment's defaults, read the one way they are read


@dataclass(frozen=True)
class RemovalRequest:
    """Everything one removal needs, in one validated value.

    ``plate``/``matte``/``out`` are sequence patterns (``plate.%04d.exr``, ``####``, ``@@@@``); ``out=None`` returns
    frames by value through a ``MemorySink``. ``matte=None`` takes the matte from ``matte_config.channel`` of the
    plate (alpha by default). ``shot`` is the range the protocol sees (reference selection, windows; None: the
    ``frames`` range if given, else every frame on disk or given by value); ``frames`` the frames to produce and
    write (None: the whole shot), which must lie inside the shot. ``engine`` is ``auto`` or a key of
    ``engines.ENGINES`` (``auto``: E2FGVI-HQ when a checkpoint is installed, else ``propagate``). ``weights`` is a
    checkpoint path or an installed name; ``device`` ``auto|cpu|cuda[:n]|mps``. ``out_channels`` ("R,G,B") keeps
    only those channels in the output files; ``out_colorspace`` (``io.output_encoding.OUT_COLORSPACES``) overrides
    the encoding the output format implies.
    """

    plate: str | None = None
    matte: str | None = None
    out: str | None = None
    shot: str | None = None
    frames: str | None = None
    engine: str = "auto"
    weights: str | None = None
    device: str | None = None
    out_channels: str | None = None
    out_colorspace: str | None = None
    config: EngineConfig = field(default_factory=EngineConfig)
    colour: ColourConfig = field(default_factory=ColourConfig)
    matte_config: MatteConfig = field(default_factory=MatteConfig)
    propagate: PropagateConfig = field(default_factory=_default_propagate)

    def __post_init__(self) -> None:
        check_engine_name(self.engine)
        for name, kind in (
            ("config", EngineConfig),
            ("colour", ColourConfig),
            ("matte_config", MatteConfig),
            ("propagate", PropagateConfig),
        ):
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(f"{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        shot = _parse_range("shot", self.shot)
        frames = _parse_range("frames", self.frames)
        if shot is not None and frames is not None:
            outside = sorted(set(frames) - set(shot))
            if outside:
                raise ConfigError(
                    f"frames {self.frames} are not all inside shot {self.shot}: {outside[0]} is not "
                    f"(frames are the ones to write; the shot is the range the protocol sees)"
                )

    @property
    def colorspace(self) -> str | None:
        """The plate's OpenColorIO colourspace (``colour.colorspace``)."""
        return self.colour.colorspace

    @property
    def matte_channel(self) -> str | None:
        """The matte's channel (``matte_config.channel``)."""
        return self.matte_config.channel

    def shot_numbers(self) -> tuple[int, ...] | None:
        """Frame numbers of the shot, when the request names them (``shot``, else ``frames``)."""
        return _parse_range("shot", self.shot) or _parse_range("frames", self.frames)

    def output_numbers(self, shot: tuple[int, ...]) -> tuple[int, ...]:
        """Frame numbers to produce and write, out of the resolved ``shot`` (all of it without ``frames``)."""
        frames = _parse_range("frames", self.frames)
        if frames is None:
            return shot
        outside = sorted(set(frames) - set(shot))
        if outside:
            raise ConfigError(f"frames {self.frames}: {outside[0]} is not a frame of the shot ({shot[0]}-{shot[-1]})")
        return frames

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RemovalRequest:
        """Build from flat keys and/or nested ``config``/``colour``/``matte_config``/``propagate`` mappings.

        ``None`` and ``""`` mean the default; an unknown key raises ``ConfigError`` listing the valid ones.
        """
        data = dict(data)
        nested = {
            name: _nested(data.pop(name, None), name) for name in ("config", "colour", "matte_config", "propagate")
        }
        own = {f.name for f in fields(cls)} - set(nested)
        engine_keys = {f.name for f in fields(EngineConfig)}
        matte_keys = {MATTE_PREFIX + f.name for f in fields(MatteConfig)}
        propagate_keys = {PROPAGATE_PREFIX + f.name for f in fields(PropagateConfig)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in own:
                values[key] = value
            elif key in engine_keys:
                nested["config"][key] = value
            elif key in COLOUR_KEYS:
                nested["colour"][key] = value
            elif key in matte_keys:
                nested["matte_config"][key.removeprefix(MATTE_PREFIX)] = value
            elif key in propagate_keys:
                if value is not None:
                    nested["propagate"][key.removeprefix(PROPAGATE_PREFIX)] = value
            else:
                valid = ", ".join(sorted(own | engine_keys | set(COLOUR_KEYS) | matte_keys | propagate_keys))
                raise ConfigError(f"unknown RemovalRequest key {key!r}; valid keys: {valid}")
        for key in _STRING_KEYS:
            value = values.get(key)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{key} must be a string, got {type(value).__name__}")
            if value == "":
                values[key] = None
        if values.get("engine") is None:
            values.pop("engine", None)
        colour = {k: (None if v == "" else v) for k, v in nested["colour"].items()}
        matte = {k: (None if v == "" else v) for k, v in nested["matte_config"].items()}
        return cls(
            config=EngineConfig.from_mapping(nested["config"]),
            colour=ColourConfig.from_mapping(colour),
            matte_config=MatteConfig.from_mapping(matte),
            propagate=PropagateConfig.from_mapping(nested["propagate"]),
            **values,
        )

    def to_mapping(self) -> dict[str, Any]:
        """Flat keys that ``from_mapping`` turns back into an equal request (the CLI's ``submit``)."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name in _OWN_FIELDS}
        data.update(self.config.to_mapping())
        data.update(dataclasses.asdict(self.colour))
        data.update({MATTE_PREFIX + k: v for k, v in dataclasses.asdict(self.matte_config).items()})
        data.update({PROPAGATE_PREFIX + k: v for k, v in self.propagate.to_mapping().items()})
        return data


_OWN_FIELDS = (
    "plate",
    "matte",
    "out",
    "shot",
    "frames",
    "engine",
    "weights",
    "device",
    "out_channels",
    "out_colorspace",
)


def _nested(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: v for k, v in dataclasses.asdict(value).items()}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping, got {type(value).__name__}")
    return dict(value)


def _parse_range(key: str, text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return parse_frame_range(text)
    except SequenceError as exc:
        raise ConfigError(f"{key}: {exc}") from None


@dataclass(frozen=True)
class Progress:
    """A progress report: frames finished (written) out of the total, the current stage, timing."""

    frames_done: int
    frames_total: int
    stage: str
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class RemovalSummary:
    """What a finished run did: frame numbers written, where, how long, cache counters, which model.

    ``windows_run``: windows whose model (or fill) ran; ``windows_planned``: windows the frames needed (some may
    skip the model when their mattes are empty); ``frames_read``: plate frames read; ``frames_warmup``: frames
    computed and not written (propagate's carry warm-up before a ``frames`` subset).
    """

    frames: tuple[int, ...]
    outputs: tuple[str, ...]
    seconds: float
    cache_stats: CacheStats | None
    engine: str
    variant: str | None = None
    weights_sha256: str | None = None
    frames_passthrough: int = 0
    windows_run: int = 0
    windows_planned: int = 0
    frames_read: int = 0
    frames_warmup: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def frames_written(self) -> int:
        return len(self.frames)
