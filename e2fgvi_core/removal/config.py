"""Engine settings: one frozen dataclass per concern, validated once, shared by the CLI, the server and the farm.

``EngineConfig`` holds the shot protocol (windows, references, blending, ROI, proxy); ``CacheConfig`` the
per-shot cache budget. Both are built with ``from_mapping()`` so every front end (flags, ``submit`` parameters,
host knobs, farm job parameters) goes through the same checks and reports the same key name when a value is bad.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from e2fgvi_core.byte_sizes import parse_byte_size
from e2fgvi_core.errors import ConfigError

BLEND_MODES = ("official", "mean")
ROI_MODES = ("auto", "full")
NAN_POLICIES = ("zero", "error")
# auto = the device's default (float32 everywhere until measured otherwise); e2fgvi_core/models/precision.py checks
# what a device runs natively (kept torch-free here: the CLI parses flags without importing torch)
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Default cache budget: enough for the features and flows of a few hundred 432x240 frames (about 0.9 MB each),
# small next to the model itself. Overridden by $E2FGVI_CACHE_BYTES or CacheConfig(budget_bytes=...).
DEFAULT_CACHE_BYTES = 1 << 30


def _check_keys(cls: type, data: Mapping[str, Any]) -> None:
    names = [f.name for f in fields(cls)]
    for key in data:
        if key not in names:
            raise ConfigError(f"unknown {cls.__name__} key {key!r}; valid keys: {', '.join(names)}")


def _as_int(key: str, value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key} must be an integer, got {value!r}") from exc
    if isinstance(value, float) and value != number:
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if minimum is not None and number < minimum:
        raise ConfigError(f"{key} must be >= {minimum}, got {number}")
    return number


def _as_choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower()
    if text not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}; got {value!r}")
    return text


@dataclass(frozen=True)
class EngineConfig:
    """How a shot is cut into windows and put back together.

    The defaults are the official ``test.py`` protocol (stride 5, a reference every 10 frames over the whole
    shot, running 0.5 blend). ``num_ref=-1`` means every ``ref_step``-th frame of the shot not in the window, which
    is what makes farm chunks exact but also makes each window's model input grow with the shot length (T/10
    reference frames); a fixed ``num_ref`` bounds it.
    """

    neighbor_stride: int = 5
    ref_step: int = 10
    num_ref: int = -1
    blend: str = "official"
    roi: str = "auto"
    roi_margin: int = 48
    proxy: float = 1.0
    nan_policy: str = "zero"
    precision: str = "auto"

    def __post_init__(self) -> None:
        _as_int("neighbor_stride", self.neighbor_stride, 1)
        _as_int("ref_step", self.ref_step, 1)
        _as_int("num_ref", self.num_ref, -1)
        _as_int("roi_margin", self.roi_margin, 0)
        _as_choice("blend", self.blend, BLEND_MODES)
        _as_choice("roi", self.roi, ROI_MODES)
        _as_choice("nan_policy", self.nan_policy, NAN_POLICIES)
        _as_choice("precision", self.precision, PRECISIONS)
        if not isinstance(self.proxy, (int, float)) or isinstance(self.proxy, bool) or not 0.05 <= self.proxy <= 1.0:
            raise ConfigError(f"proxy must be a number in [0.05, 1.0], got {self.proxy!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> EngineConfig:
        """Build from a mapping (CLI namespace dict, server parameters); ``None`` values mean the default."""
        data = {k: v for k, v in dict(data or {}).items() if v is not None}
        _check_keys(cls, data)
        values: dict[str, Any] = {}
        for key in ("neighbor_stride", "ref_step", "roi_margin"):
            if key in data:
                values[key] = _as_int(key, data[key], 0 if key == "roi_margin" else 1)
        if "num_ref" in data:
            values["num_ref"] = _as_int("num_ref", data["num_ref"], -1)
        if "blend" in data:
            values["blend"] = _as_choice("blend", data["blend"], BLEND_MODES)
        if "roi" in data:
            values["roi"] = _as_choice("roi", data["roi"], ROI_MODES)
        if "nan_policy" in data:
            values["nan_policy"] = _as_choice("nan_policy", data["nan_policy"], NAN_POLICIES)
        if "precision" in data:
            values["precision"] = _as_choice("precision", data["precision"], PRECISIONS)
        if "proxy" in data:
            try:
                values["proxy"] = float(data["proxy"])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"proxy must be a number in [0.05, 1.0], got {data['proxy']!r}") from exc
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class CacheConfig:
    """Byte budget of the per-shot cache of encoder features and flows (LRU beyond it; 0 disables it)."""

    budget_bytes: int = DEFAULT_CACHE_BYTES

    def __post_init__(self) -> None:
        _as_int("budget_bytes", self.budget_bytes, 0)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> CacheConfig:
        data = {k: v for k, v in dict(data or {}).items() if v is not None}
        _check_keys(cls, data)
        if "budget_bytes" in data:
            return cls(budget_bytes=parse_byte_size(data["budget_bytes"], "budget_bytes"))
        return cls()

    @classmethod
    def from_env(cls) -> CacheConfig:
        """``$E2FGVI_CACHE_BYTES`` (an integer, optionally with a K/M/G suffix) or the default."""
        raw = os.environ.get("E2FGVI_CACHE_BYTES")
        if not raw:
            return cls()
        return cls(budget_bytes=parse_byte_size(raw, "E2FGVI_CACHE_BYTES"))
