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
from e2fgvi_core.schema import request_field

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

    neighbor_stride: int = request_field(
        5,
        help="local window stride, as the official script",
        cli_group="advanced",
        label="Neighbor stride",
        minimum=1,
        maximum=100,
    )
    ref_step: int = request_field(
        10,
        help="a reference frame every N frames",
        cli_group="advanced",
        label="Reference step",
        minimum=1,
        maximum=1000,
    )
    num_ref: int = request_field(
        -1,
        help="-1: all references of the shot; N: the nearest N",
        cli_group="advanced",
        label="References",
        minimum=-1,
        maximum=1000,
    )
    blend: str = request_field(
        "official", help="official running 0.5 blend or mean", cli_group="advanced", choices=BLEND_MODES
    )
    roi: str = request_field(
        "auto",
        help="auto: crop each window to its mattes; full: whole frames",
        cli_group="advanced",
        choices=ROI_MODES,
    )
    roi_margin: int = request_field(
        48,
        help="context kept around the mattes for --roi auto, in pixels",
        cli_group="advanced",
        label="ROI margin",
        minimum=0,
        maximum=4096,
    )
    proxy: float = request_field(
        1.0,
        help="process at this scale (e.g. 0.5) and upsample the fill",
        cli_group="advanced",
        label="Proxy scale",
        minimum=0.05,
        maximum=1.0,
    )
    nan_policy: str = request_field(
        "zero",
        help="NaN/Inf in the plate: read as 0 with a warning, or refuse the frame",
        cli_group="advanced",
        choices=NAN_POLICIES,
    )
    precision: str = request_field(
        "auto", help="model arithmetic: auto (fp32 until measured otherwise), fp32, bf16 (GPUs, CPUs with "
        "AVX-512 BF16/AMX), fp16 (GPUs)", cli_group="advanced", choices=PRECISIONS,
    )  # fmt: skip

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
