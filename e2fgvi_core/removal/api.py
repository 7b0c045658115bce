"""The public entry point of the shot engine: one request in, clean frames out.

The CLI, the server's workers and the farm's chunk renderer all call ``run_removal``; they differ only in how they
fill a ``RemovalRequest`` and what they do with ``Progress`` reports. Frames normally come from and go to image
sequences (``plate``/``matte``/``out`` patterns); the server can pass them by value instead with ``MemorySource``
and ``MemorySink``.

    from e2fgvi_core.removal.api import RemovalRequest, run_removal
    summary = run_removal(request, progress=callback, cancel=threading.Event(), cache=shared_cache)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from e2fgvi_core.errors import ConfigError, SequenceError
from e2fgvi_core.io.colour import ColourConfig
from e2fgvi_core.io.matte import MatteConfig
from e2fgvi_core.removal.cache import CacheStats, ShotCache
from e2fgvi_core.removal.config import CacheConfig, EngineConfig

ENGINES = ("auto", "e2fgvi_hq", "e2fgvi", "propagate")

__all__ = [
    "ENGINES",
    "CacheConfig",
    "CacheStats",
    "EngineConfig",
    "MemorySink",
    "MemorySource",
    "Progress",
    "RemovalRequest",
    "RemovalSummary",
    "ShotCache",
    "run_removal",
]


@dataclass(frozen=True)
class RemovalRequest:
    """Everything one removal needs, in one validated value (CLI flags and ``submit`` parameters map onto it).

    ``plate``/``matte``/``out`` are sequence patterns (``plate.%04d.exr``, ``####``, ``@@@@``); ``out=None`` returns
    frames by value through a ``MemorySink``. ``matte=None`` takes the matte from ``matte_channel`` of the plate.
    ``frames`` is a range such as ``"1001-1100"`` (None: every frame on disk). ``engine="auto"`` is E2FGVI-HQ when
    a checkpoint is installed, else the weight-free ``propagate`` engine. ``weights`` is a checkpoint path or an
    installed name; ``device`` ``auto|cpu|cuda[:n]|mps``; ``colorspace`` the plate's OCIO colourspace (None:
    EXR/float plates are scene-linear sRGB primaries, 8-bit plates display-referred).
    """

    plate: str | None = None
    matte: str | None = None
    out: str | None = None
    frames: str | None = None
    matte_channel: str | None = None
    engine: str = "auto"
    weights: str | None = None
    device: str | None = None
    colorspace: str | None = None
    out_channels: str | None = None
    out_colorspace: str | None = None
    config: EngineConfig = field(default_factory=EngineConfig)
    matte_config: MatteConfig = field(default_factory=MatteConfig)
    colour: ColourConfig = field(default_factory=ColourConfig)

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}; got {self.engine!r}")
        if not isinstance(self.config, EngineConfig):
            raise ConfigError(f"config must be an EngineConfig, got {type(self.config).__name__}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RemovalRequest:
        """Build from a flat mapping: request keys plus ``EngineConfig`` keys (or a nested ``config`` mapping)."""
        data = dict(data)
        own = {f.name for f in fields(cls)} - {"config", "matte_config", "colour"}
        colour_values: dict[str, Any] = {}
        matte_keys = {f"matte_{f.name}" for f in fields(MatteConfig)} - {"matte_channel"}
        matte_values: dict[str, Any] = {}
        engine_keys = {f.name for f in fields(EngineConfig)}
        nested = data.pop("config", None) or {}
        if isinstance(nested, EngineConfig):
            nested = nested.to_mapping()
        if not isinstance(nested, Mapping):
            raise ConfigError(f"config must be a mapping of {', '.join(sorted(engine_keys))}")
        engine_values = dict(nested)
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in own:
                values[key] = value
            elif key in engine_keys:
                engine_values[key] = value
            elif key in ("exposure", "highlight_rolloff"):
                colour_values[key] = value
            elif key in matte_keys:
                matte_values[key.removeprefix("matte_")] = value
            else:
                valid = ", ".join(sorted(own | engine_keys))
                raise ConfigError(f"unknown RemovalRequest key {key!r}; valid keys: {valid}")
        for key in (
            "plate", "matte", "out", "frames", "matte_channel", "weights", "device", "colorspace", "out_channels",
            "out_colorspace",
        ):  # fmt: skip
            value = values.get(key)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{key} must be a string, got {type(value).__name__}")
            if value == "":
                values[key] = None
        if values.get("engine") is None:
            values.pop("engine", None)
        matte_values["channel"] = values.get("matte_channel")
        colour_values["colorspace"] = values.get("colorspace")
        values["colour"] = ColourConfig.from_mapping(colour_values)
        return cls(
            config=EngineConfig.from_mapping(engine_values),
            matte_config=MatteConfig.from_mapping(matte_values),
            **values,
        )

    def to_mapping(self) -> dict[str, Any]:
        data = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("config", "matte_config", "colour")
        }
        data.update({"exposure": self.colour.exposure, "highlight_rolloff": self.colour.highlight_rolloff})
        data.update(self.config.to_mapping())
        data.update({f"matte_{f.name}": getattr(self.matte_config, f.name) for f in fields(MatteConfig)})
        return data


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
    """What a finished run did: frame numbers written, where, how long, cache counters, which model."""

    frames: tuple[int, ...]
    outputs: tuple[str, ...]
    seconds: float
    cache_stats: CacheStats | None
    engine: str
    variant: str | None = None
    weights_sha256: str | None = None
    frames_passthrough: int = 0
    windows_run: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def frames_written(self) -> int:
        return len(self.frames)


def _as_frame(value: Any, where: str):
    from e2fgvi_core.io.frame import Frame

    if isinstance(value, Frame):
        return value
    array = np.asarray(value)
    if array.ndim not in (2, 3):
        raise SequenceError(f"{where}: expected an (h, w) or (h, w, c) array, got shape {array.shape}")
    frame = Frame.from_array(array)
    frame.path = where
    return frame


class MemorySource:
    """Frames by value: ``{frame_number: Frame or (h, w[, c]) array}`` (arrays get default channel names)."""

    def __init__(self, frames: Mapping[int, Any], name: str = "memory") -> None:
        if not frames:
            raise SequenceError(f"{name}: no frames given")
        self.name = name
        self._frames = {int(k): v for k, v in frames.items()}

    def frame_numbers(self) -> tuple[int, ...]:
        return tuple(sorted(self._frames))

    def describe(self, frame: int) -> str:
        return f"{self.name} frame {frame}"

    def read(self, frame: int):
        if frame not in self._frames:
            raise SequenceError(f"{self.describe(frame)} is missing; have {min(self._frames)}-{max(self._frames)}")
        return _as_frame(self._frames[frame], self.describe(frame))


class MemorySink:
    """Collects output frames by value in ``frames`` ({frame_number: Frame}); nothing touches the disk."""

    def __init__(self) -> None:
        self.frames: dict[int, Any] = {}
        self._lock = threading.Lock()

    def check(self) -> None:
        """Nothing to check: memory is always writable."""

    def write(self, frame: int, result, provenance: Mapping[str, Any]) -> str | None:
        with self._lock:
            self.frames[frame] = result
        return None

    def arrays(self) -> dict[int, np.ndarray]:
        return {k: v.pixels for k, v in sorted(self.frames.items())}


ProgressCallback = Callable[[Progress], None]


def run_removal(
    request: RemovalRequest,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    cache: ShotCache | None = None,
    *,
    source: Any | None = None,
    matte_source: Any | None = None,
    sink: Any | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_frame_written: Callable[[int, str | None], None] | None = None,
) -> RemovalSummary:
    """Run one removal and return its summary; raises an ``E2fgviError`` subclass on bad input.

    ``cache`` is shared between runs (the server holds one); without it a cache private to this run is used, so
    features and flows are still computed once per frame and pair. ``cancel.is_set()`` is checked between windows
    and raises ``JobCancelled``: frames already written are complete files, nothing is left half-written.
    ``source``/``matte_source``/``sink`` replace the ``plate``/``matte``/``out`` patterns (frames by value).
    ``on_warning(message)`` hears each warning when it arises (the summary lists them all again at the end);
    ``on_frame_written(frame, path)`` hears each frame once its file is complete (path None for a memory sink), so a
    server streams results and knows, after a cancel or a failure, which frames survived.
    """
    from e2fgvi_core.removal.runner import run_request

    return run_request(
        request,
        progress=progress,
        cancel=cancel,
        cache=cache,
        source=source,
        matte_source=matte_source,
        sink=sink,
        on_warning=on_warning,
        on_frame_written=on_frame_written,
    )
