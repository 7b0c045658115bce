"""The Remove Object node's parameters: the request schema's host settings plus the bridge's own two.

Why derived: every host adapter (Blender, Nuke, Resolve, the OpenFX plug-in) builds its knobs from ``describe()``
(type, default, range, choices, label, help); the ``type`` (``int``, ``float``, ``str``, ``bool``: the schema
field's) picks each host's control kind (a ``bool`` is a checkbox). A request setting is declared once, in the request
schema (``e2fgvi_core.schema``: the fields with a ``label``), and reaches the server under the key the engine reads,
with the defaults `e2fgvi remove` has. Two fields are the bridge's own and never travel in a request: ``server``
(where the job runs) and ``chunk_size`` (how many frames one job produces around the frame a host asks for); neither
changes a single output pixel. The schema module is torch-free (it imports numpy at most), so a host's Python reads it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from e2fgvi_core.schema import request_fields

from ..client import wire
from .errors import ParamsError

DEFAULT_CHUNK_SIZE = 10
"""Frames one host job produces around the frame asked for (the bridge's own setting)."""


def _meta(kind: str, label: str, help: str, *, request: bool, **limits: Any) -> dict[str, Any]:
    return {"type": kind, "label": label, "help": help, "request": request, **limits}


def _field_specs() -> list[tuple[str, Any, dataclasses.Field]]:
    specs = []
    shown = [spec for spec in request_fields() if spec.host_visible]
    for spec in sorted(shown, key=lambda spec: spec.key == "shot"):  # the node's frame range last, under the knobs
        limits = {k: v for k, v in (("minimum", spec.minimum), ("maximum", spec.maximum)) if v is not None}
        if spec.choices:
            limits["choices"] = spec.choices
        meta = _meta(spec.type, spec.label, spec.help, request=True, **limits)
        specs.append((spec.key, Any, dataclasses.field(default=spec.default, metadata=meta)))
    own = (
        ("server", wire.DEFAULT_ADDRESS, _meta(
            "str", "Server", "address of e2fgvi-server; a local one starts when needed", request=False
        )),
        ("chunk_size", DEFAULT_CHUNK_SIZE, _meta(
            "int", "Chunk size", "frames one job produces around the frame asked for", request=False, minimum=1,
            maximum=wire.FOOTPRINT_FRAME_LIMIT,
        )),
    )  # fmt: skip
    specs.extend((name, Any, dataclasses.field(default=default, metadata=meta)) for name, default, meta in own)
    return specs


def _post_init(self) -> None:
    for spec in dataclasses.fields(self):
        _check(spec, getattr(self, spec.name))


def _from_mapping(cls, data: Mapping[str, Any] | None):
    """Build from host knob values; unknown keys are refused by name, ``""`` and None mean the default."""
    data = dict(data or {})
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ParamsError(f"unknown Remove Object parameter {unknown[0]!r}; valid: {', '.join(names)}")
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(cls):
        if spec.name not in data or data[spec.name] is None or data[spec.name] == "":
            continue
        values[spec.name] = _coerce(spec, data[spec.name])
    return cls(**values)


def _to_mapping(self) -> dict[str, Any]:
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


def _request_fields(self) -> dict[str, Any]:
    """The ``RemovalRequest`` keys of these parameters (values left at None are not sent)."""
    return {
        f.name: getattr(self, f.name)
        for f in dataclasses.fields(self)
        if f.metadata["request"] and getattr(self, f.name) is not None
    }


def _digest(self) -> str:
    """A content digest of what changes pixels (request fields only): the frame cache's parameter key."""
    text = json.dumps(self.request_fields(), sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


BridgeParams = dataclasses.make_dataclass(
    "BridgeParams",
    _field_specs(),
    frozen=True,
    namespace={
        "__doc__": 'What an artist sets on the node. ``None`` means "the engine\'s default" and is not sent.',
        "__post_init__": _post_init,
        "from_mapping": classmethod(_from_mapping),
        "to_mapping": _to_mapping,
        "request_fields": _request_fields,
        "digest": _digest,
    },
)
BridgeParams.__module__ = __name__


def describe_params() -> list[dict[str, Any]]:
    """Every parameter as a host UI needs it: name, type, default, label, help, limits, whether it is sent."""
    return [{"name": spec.name, "default": spec.default, **spec.metadata} for spec in dataclasses.fields(BridgeParams)]


def request_keys() -> tuple[str, ...]:
    """The parameter names that travel as ``RemovalRequest`` keys."""
    return tuple(f.name for f in dataclasses.fields(BridgeParams) if f.metadata["request"])


_BOOL_TEXTS = {"true": True, "1": True, "on": True, "yes": True, "false": False, "0": False, "off": False, "no": False}
"""What a host's checkbox or a settings file may hold for a bool parameter: Nuke and Blender give ``bool``, OpenFX
and Fusion an integer 0 or 1, a JSON or text setting a word."""


def _coerce(spec, value: Any) -> Any:
    kind = spec.metadata["type"]
    if kind == "bool":
        return _coerce_bool(spec, value)
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


def _coerce_bool(spec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOL_TEXTS:
        return _BOOL_TEXTS[value.strip().lower()]
    raise ParamsError(f"{spec.metadata['label']} ({spec.name}) must be on or off (true/false, 1/0), got {value!r}")


def _check(spec, value: Any) -> None:
    label = f"{spec.metadata['label']} ({spec.name})"
    if value is None:
        if spec.default is not None:
            raise ParamsError(f"{label} needs a value")
        return
    kind = spec.metadata["type"]
    if kind == "bool":  # a bool is an int in Python, and 1 is not True to a reader of the request
        if not isinstance(value, bool):
            raise ParamsError(f"{label} must be a bool, got {type(value).__name__}")
        return
    expected = {"int": int, "float": (int, float), "str": str}[kind]
    if not isinstance(value, expected) or isinstance(value, bool):
        raise ParamsError(f"{label} must be a {kind}, got {type(value).__name__}")
    choices = spec.metadata.get("choices")
    if choices and value not in choices:
        raise ParamsError(f"{label} must be one of {', '.join(choices)}; got {value!r}")
    low, high = spec.metadata.get("minimum"), spec.metadata.get("maximum")
    if low is not None and value < low or high is not None and value > high:
        raise ParamsError(f"{label} must be in [{low}, {high}], got {value!r}")
