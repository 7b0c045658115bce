"""The shot contract: what a caller asks for (``RemovalRequest``) and what it gets back (``Progress``, ``RemovalSummary``).

Every caller (the CLI, the server's ``submit``, the host bridge, farm jobs) fills the same request, validated once here,
so a value one front end accepts is one every front end accepts. The loop that carries it out is ``runner``; this
module holds only the types, so both ``api`` and ``runner`` import it and neither imports the other.

Keys: one flat spelling per setting, the request schema's (``e2fgvi_core.schema``): the request's own field names,
the ``EngineConfig`` and ``ColourConfig`` field names, ``matte_<field>`` of ``MatteConfig`` and ``propagate_<field>``
of ``PropagateConfig``. An unknown key is a ``ConfigError`` naming it. Environment variables
(``E2FGVI_PROPAGATE_*``, ``$OCIO``) are defaults below these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from e2fgvi_core.errors import ConfigError, SequenceError
from e2fgvi_core.io.colour import ColourConfig
from e2fgvi_core.io.matte import MatteConfig
from e2fgvi_core.io.output_encoding import OUT_COLORSPACES
from e2fgvi_core.io.sequence import FrameSequence, parse_frame_range
from e2fgvi_core.propagate.config import PropagateConfig
from e2fgvi_core.removal.cache import CacheStats
from e2fgvi_core.removal.config import EngineConfig
from e2fgvi_core.removal.engine_registry import AUTO, ENGINE_CHOICES, check_engine_name
from e2fgvi_core.schema import (
    GROUPS,
    PATH_READ,
    PATH_READ_FRAMES,
    PATH_WEIGHTS,
    PATH_WRITE,
    field_for,
    request_field,
    request_fields,
    split_frames_entry,
)


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
    ``engines.ENGINES`` (``auto``: the default or official weights' engine, else ``propagate``). ``weights`` is a
    checkpoint path or an installed name; ``device`` ``auto|cpu|cuda[:n]|mps``. ``out_channels`` ("R,G,B") keeps
    only those channels in the output files; ``out_colorspace`` (``io.output_encoding.OUT_COLORSPACES``) overrides
    the encoding the output format implies. ``regrain`` adds grain matched to the plate's around the hole to the
    fill (``removal/grain.py``), after the engine, so its fill and cache stay grain-free.
    """

    plate: str | None = request_field(
        None,
        help="plate pattern: plate.%04d.exr, plate.####.exr, plate.@@@@.exr",
        path=PATH_READ,
        cli_group="io",
        cli={"required": True},
    )
    matte: str | None = request_field(
        None,
        help="matte pattern (default: the --matte-channel of the plate, alpha)",
        path=PATH_READ,
        cli_group="io",
    )
    out: str | None = request_field(
        None,
        help="output pattern with a frame token; files are written atomically",
        path=PATH_WRITE,
        pixels=False,
        cli_group="io",
        cli={"required": True},
    )
    shot: str | None = request_field(
        None,
        help="the shot's frame range: what windows and references see (default: --frames, else all on disk)",
        cli_group="io",
        label="Shot range",
    )
    frames: str | None = request_field(
        None,
        help="frames to produce and write, e.g. 1001-1010, inside --shot (default: all)",
        pixels=False,
        cli_group="io",
    )
    engine: str = request_field(
        AUTO,
        help="auto: E2FGVI-HQ when its official checkpoint (or a default you set) is installed, else the "
        "weight-free propagate engine",
        cli_group="engine",
        label="Engine",
        choices=ENGINE_CHOICES,
    )
    weights: str | None = request_field(
        None,
        help="checkpoint file or installed name (see `e2fgvi weights list`)",
        path=PATH_WEIGHTS,
        cli_group="engine",
        label="Weights",
    )
    device: str | None = request_field(
        None,
        help="auto (default), cpu, cuda, cuda:N or mps; an explicit device must exist",
        pixels=False,
        cli_group="engine",
    )
    out_channels: str | None = request_field(
        None, help="write only these channels (e.g. for PNG output)", cli_group="io", cli={"metavar": "R,G,B"}
    )
    reference: tuple[str, ...] = request_field(
        (),
        help="a clean frame the artist painted, FRAMES=PATH: 1001=clean.1001.exr, or 1001,1050=clean.%04d.exr "
        "(repeatable); its alpha, if any, says which pixels to trust (the propagate engine)",
        path=PATH_READ_FRAMES,
        cli_group="io",
        cli={"action": "append", "metavar": "FRAMES=PATH"},
    )
    out_colorspace: str | None = request_field(
        None,
        help="auto (default): EXR outputs scene-linear, PNG/JPEG/DPX display-referred; raw: the plate's values",
        cli_group="io",
        choices=OUT_COLORSPACES,
    )
    regrain: bool = request_field(
        False,
        help="add grain matched to the plate's around the hole (per channel and brightness) to the fill, "
        "as the last step of each frame (removal/grain.py)",
        cli_group="matte",
        cli={"action": "store_true", "default": None},
        label="Regrain",
    )
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
        if not isinstance(self.regrain, bool):
            raise ConfigError(f"regrain must be true or false, got {self.regrain!r}")
        if not isinstance(self.reference, tuple):
            raise ConfigError(f"reference must be a tuple of FRAMES=PATH entries, got {type(self.reference).__name__}")
        self.reference_paths()  # every entry parses, and no frame has two
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

    def reference_paths(self) -> dict[int, str]:
        """Frame number -> file of each reference frame (``reference`` entries; a pattern is filled per frame)."""
        paths: dict[int, str] = {}
        for entry in self.reference:
            if not isinstance(entry, str):
                raise ConfigError(f"reference entries must be FRAMES=PATH strings, got {entry!r}")
            frames, path = split_frames_entry(entry)
            numbers = _parse_range("reference", frames)
            if len(numbers) > 1 and FrameSequence(path).is_single_file:
                raise ConfigError(f"reference {entry!r}: several frames need a pattern with a frame token (%04d, ####)")
            for number in numbers:
                if number in paths:
                    raise ConfigError(f"reference frame {number} is given twice")
                paths[number] = FrameSequence(path).path(number)
        return paths

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
        """Build from the schema's flat keys (CLI flags, ``submit`` requests, host knobs, farm job parameters).

        ``None`` means the default, and so does ``""`` for an optional text; an empty ``shot`` or ``frames`` is an
        error (an empty range names no frame). An unknown key raises ``ConfigError`` listing the valid ones.
        """
        own: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {group: {} for group, _ in GROUPS}
        for key, value in dict(data).items():
            spec = field_for(key)
            if spec.type == "list" and isinstance(value, (str, list, tuple)):
                value = (value,) if isinstance(value, str) else tuple(value)  # one entry, or a wire/CLI list
            if spec.group is None:
                if spec.type == "str" and value is not None and not isinstance(value, str):
                    raise ConfigError(f"{key} must be a string, got {type(value).__name__}")
                if value is not None and (value != "" or key in ("shot", "frames")):
                    own[spec.attr] = value  # an empty range is parsed, and refused, as one
            elif value is not None and not (value == "" and spec.type != "bool"):
                nested[spec.group][spec.attr] = value
        return cls(
            config=EngineConfig.from_mapping(nested["config"]),
            colour=ColourConfig.from_mapping(nested["colour"]),
            matte_config=MatteConfig.from_mapping(nested["matte_config"]),
            propagate=PropagateConfig.from_mapping(nested["propagate"]),
            **own,
        )

    def value_of(self, key: str) -> Any:
        """The value of the setting with wire key ``key`` (``matte_dilate`` -> ``matte_config.dilate``)."""
        spec = field_for(key)
        holder = self if spec.group is None else getattr(self, spec.group)
        return getattr(holder, spec.attr)

    def to_mapping(self) -> dict[str, Any]:
        """Every setting under its one wire key: what ``from_mapping`` turns back into an equal request."""
        return {spec.key: self.value_of(spec.key) for spec in request_fields()}


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

    def to_mapping(self) -> dict[str, Any]:
        """Plain values (msgpack, JSON): the server's ``result`` summary and ``e2fgvi remove --json`` both are this,
        so a script reads the same keys wherever the job ran."""
        return {
            "frames": [int(f) for f in self.frames],
            "outputs": [str(path) for path in self.outputs if path],
            "seconds": round(float(self.seconds), 6),
            "cache": None if self.cache_stats is None else self.cache_stats.to_mapping(),
            "engine": self.engine,
            "variant": self.variant,
            "weights_sha256": self.weights_sha256,
            "frames_passthrough": int(self.frames_passthrough),
            "windows_run": int(self.windows_run),
            "windows_planned": int(self.windows_planned),
            "frames_read": int(self.frames_read),
            "frames_warmup": int(self.frames_warmup),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RemovalSummary:
        """The summary ``to_mapping`` gave (the client's side of a server's ``result``); unknown keys are ignored,
        so a newer server's extra fields do not break an older client."""
        cache = data.get("cache")
        return cls(
            frames=tuple(int(f) for f in data.get("frames") or ()),
            outputs=tuple(str(p) for p in data.get("outputs") or ()),
            seconds=float(data.get("seconds") or 0.0),
            cache_stats=CacheStats(**cache) if isinstance(cache, Mapping) else None,
            engine=str(data.get("engine") or ""),
            variant=data.get("variant"),
            weights_sha256=data.get("weights_sha256"),
            frames_passthrough=int(data.get("frames_passthrough") or 0),
            windows_run=int(data.get("windows_run") or 0),
            windows_planned=int(data.get("windows_planned") or 0),
            frames_read=int(data.get("frames_read") or 0),
            frames_warmup=int(data.get("frames_warmup") or 0),
            warnings=tuple(str(w) for w in data.get("warnings") or ()),
        )
