"""The Remove Object node's parameters: one frozen dataclass whose request keys are ``RemovalRequest`` keys.

Why one dataclass with metadata: every host adapter (Blender, Nuke, Resolve) builds its knobs from ``describe()``
(type, default, range, choices, label, help), so a parameter is declared once, here, and reaches the server under
the same name the engine reads (a test checks the names against ``RemovalRequest``). Two fields are the bridge's
own and never travel in a request: ``server`` (where the job runs) and ``chunk_size`` (how many frames one job
produces around the frame a host asks for); neither changes a single output pixel.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..client import wire
from .errors import ParamsError

ENGINES = ("auto", "e2fgvi_hq", "e2fgvi", "propagate")  # the server's hello lists what it runs


def _param(default: Any, label: str, help: str, *, request: bool = True, **limits: Any) -> Any:
    return field(default=default, metadata={"label": label, "help": help, "request": request, **limits})


@dataclass(frozen=True)
class BridgeParams:
    """What an artist sets on the node. ``None`` means "the engine's default" and is not sent."""

    engine: str = _param(
        "auto", "Engine", "auto: E2FGVI-HQ when weights are installed, else propagate (weight-free)", choices=ENGINES
    )
    weights: str | None = _param(None, "Weights", "checkpoint file or installed name; empty: the default")
    matte_channel: str | None = _param(
        None, "Matte channel", "channel of the matte clip (or of Source when there is no matte clip); empty: alpha"
    )
    matte_dilate: int = _param(
        4,
        "Dilation",
        "grow the matte N times by a 3x3 cross before filling (4: the official script)",
        minimum=0,
        maximum=256,
    )
    matte_feather: int = _param(
        0, "Feather", "soft composite edge N pixels wide, inside the hole (0: hard edge)", minimum=0, maximum=256
    )
    roi_margin: int = _param(48, "ROI margin", "context kept around the matte, in pixels", minimum=0, maximum=4096)
    proxy: float = _param(1.0, "Proxy scale", "process at this scale and upsample the fill", minimum=0.05, maximum=1.0)
    neighbor_stride: int = _param(5, "Neighbor stride", "local window stride of the model", minimum=1, maximum=100)
    ref_step: int = _param(10, "Reference step", "a reference frame every N frames", minimum=1, maximum=1000)
    num_ref: int = _param(
        -1, "References", "-1: every reference of the shot; N: the nearest N", minimum=-1, maximum=1000
    )
    colorspace: str | None = _param(None, "Colourspace", "OpenColorIO colourspace of the plate; empty: linear sRGB")
    propagate_context_frames: int = _param(
        20, "Propagate context", "frames on each side the propagate engine looks at", minimum=1, maximum=100
    )
    propagate_carry_restart_frames: int = _param(
        30,
        "Propagate restart",
        "the propagate engine's temporal carry restarts every N frames",
        minimum=1,
        maximum=100000,
    )
    shot: str | None = _param(
        None, "Shot range", "the node's whole frame range, e.g. 1001-1100; results equal one run over it"
    )
    server: str = _param(
        wire.DEFAULT_ADDRESS, "Server", "address of e2fgvi-server; a local one starts when needed", request=False
    )
    chunk_size: int = _param(
        10, "Chunk size", "frames one job produces around the frame asked for", request=False, minimum=1, maximum=10000
    )

    def __post_init__(self) -> None:
        for spec in fields(self):
            _check(spec, getattr(self, spec.name))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> BridgeParams:
        """Build from host knob values; unknown keys are refused by name, ``""`` and None mean the default."""
        data = dict(data or {})
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise ParamsError(f"unknown Remove Object parameter {unknown[0]!r}; valid: {', '.join(names)}")
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name not in data or data[spec.name] is None or data[spec.name] == "":
                continue
            values[spec.name] = _coerce(spec, data[spec.name])
        return cls(**values)

    def to_mapping(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def request_fields(self) -> dict[str, Any]:
        """The ``RemovalRequest`` keys of these parameters (values left at None are not sent)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.metadata["request"] and getattr(self, f.name) is not None
        }

    def digest(self) -> str:
        """A content digest of what changes pixels (request fields only): the frame cache's parameter key."""
        text = json.dumps(self.request_fields(), sort_keys=True)
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def describe_params() -> list[dict[str, Any]]:
    """Every parameter as a host UI needs it: name, type, default, label, help, limits, whether it is sent."""
    described = []
    for spec in fields(BridgeParams):
        entry = {"name": spec.name, "type": _type_name(spec), "default": spec.default, **spec.metadata}
        described.append(entry)
    return described


def request_keys() -> tuple[str, ...]:
    """The parameter names that travel as ``RemovalRequest`` keys."""
    return tuple(f.name for f in fields(BridgeParams) if f.metadata["request"])


def _type_name(spec) -> str:
    text = str(spec.type)
    for name in ("int", "float", "str"):
        if text.startswith(name):
            return name
    raise AssertionError(f"BridgeParams.{spec.name} has an unsupported type {text}")


def _coerce(spec, value: Any) -> Any:
    kind = _type_name(spec)
    try:
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
    except (TypeError, ValueError):
        raise ParamsError(
            f"{spec.metadata['label']} ({spec.name}) must be a{'n' if kind == 'int' else ''} "
            f"{'integer' if kind == 'int' else 'number'}, got {value!r}"
        ) from None
    return str(value).strip()


def _check(spec, value: Any) -> None:
    label = f"{spec.metadata['label']} ({spec.name})"
    if value is None:
        if spec.default is not None:
            raise ParamsError(f"{label} needs a value")
        return
    kind = _type_name(spec)
    expected = {"int": int, "float": (int, float), "str": str}[kind]
    if not isinstance(value, expected) or isinstance(value, bool):
        raise ParamsError(f"{label} must be a {kind}, got {type(value).__name__}")
    choices = spec.metadata.get("choices")
    if choices and value not in choices:
        raise ParamsError(f"{label} must be one of {', '.join(choices)}; got {value!r}")
    low, high = spec.metadata.get("minimum"), spec.metadata.get("maximum")
    if low is not None and value < low or high is not None and value > high:
        raise ParamsError(f"{label} must be in [{low}, {high}], got {value!r}")
