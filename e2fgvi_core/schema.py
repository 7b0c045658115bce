"""The request schema: every setting of a removal, declared once, with what each caller must know about it.

Why: a request's facts used to be restated per caller (the CLI's remote path, the farm bundle, the server's output
check, the bridge, Nuke's flag map) and the lists drifted: one missed a written path, and the server never checked
a second spelling of it. Now each setting is one field of ``RemovalRequest`` or of one of its nested ``*Config``
dataclasses, declared with ``request_field(...)``, whose metadata says

* ``path``: ``"read"`` (a file the job reads), ``"write"`` (a pattern the job writes: the server confines it),
  ``"weights"`` (a checkpoint file, or the name of an installed one), ``"read_frames"`` (a list of ``FRAMES=PATH``
  entries whose paths are read), or None;
* ``pixels``: whether the value can change a written pixel (the provenance a farm ``--resume`` compares);
* ``help``, ``flag`` and ``cli`` (extra ``argparse`` keywords): the ``e2fgvi remove`` option;
* ``label`` (shown on host nodes when set), ``minimum``/``maximum``/``choices``: the host parameter.

``request_fields()`` walks those dataclasses and gives the flat view every caller derives its own from: the one
wire spelling of each setting (``key``: the request's own field names, ``EngineConfig`` and ``ColourConfig`` field
names, ``matte_<field>``, ``propagate_<field>``), the CLI options, the paths to make absolute and to confine, the
farm job's path parameters, the provenance keys and the bridge's ``describe()``. Adding a setting is adding one
field to one dataclass.

Standard library only at import (the host side imports it inside Nuke's, Blender's or Resolve's Python); the walk
imports the dataclasses' modules, which need numpy and nothing heavier.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from e2fgvi_core.errors import ConfigError

PATH_READ = "read"
PATH_WRITE = "write"
PATH_WEIGHTS = "weights"
PATH_READ_FRAMES = "read_frames"
PATH_KINDS = (PATH_READ, PATH_WRITE, PATH_WEIGHTS, PATH_READ_FRAMES)
"""``read_frames``: a list of ``FRAMES=PATH`` entries (reference frames): each entry's path is a file read."""

_META = "e2fgvi_request"
_CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")


def request_field(
    default: Any = dataclasses.MISSING, *, default_factory: Any = dataclasses.MISSING, **meta: Any
) -> Any:
    """A dataclass field that is a request setting: ``meta`` are ``_meta``'s keywords (the module docstring says
    what each means)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={_META: _meta(**meta)})


def _meta(
    *,
    help: str,
    path: str | None = None,
    pixels: bool = True,
    flag: str | None = None,
    cli: Mapping[str, Any] | None = None,
    cli_group: str | None = None,
    label: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """The metadata of one setting (``RequestField``'s fields beyond its key, place, type and default)."""
    if path is not None and path not in PATH_KINDS:
        raise ValueError(f"path must be one of {PATH_KINDS}, got {path!r}")
    return {
        "help": help,
        "path": path,
        "pixels": pixels,
        "flag": flag,
        "cli": dict(cli or {}),
        "cli_group": cli_group,
        "label": label,
        "minimum": minimum,
        "maximum": maximum,
        "choices": tuple(choices) if choices else None,
    }


@dataclass(frozen=True)
class RequestField:
    """One setting as every caller sees it: its one wire key and where it lives in ``RemovalRequest``."""

    key: str
    group: str | None
    attr: str
    type: str
    default: Any
    help: str
    path: str | None = None
    pixels: bool = True
    flag: str | None = None
    cli: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    cli_group: str | None = None
    label: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def host_visible(self) -> bool:
        """Shown as a parameter on host nodes (it has a label)."""
        return self.label is not None

    @property
    def option(self) -> str:
        """The ``e2fgvi remove`` option: ``flag`` or ``--`` + the key with dashes."""
        return self.flag or "--" + self.key.replace("_", "-")


GROUPS: tuple[tuple[str, str], ...] = (
    ("config", ""),
    ("colour", ""),
    ("matte_config", "matte_"),
    ("propagate", "propagate_"),
)
"""``RemovalRequest``'s nested ``*Config`` fields and the prefix of their keys on the wire."""


def _type_name(annotation: Any) -> str:
    text = str(annotation)
    if text.startswith("tuple"):
        return "list"
    for name in ("bool", "int", "float", "str"):
        if text.startswith(name):
            return name
    raise TypeError(f"request fields are bool, int, float, str (or None) or a tuple of str; got {text}")


def _default(spec: dataclasses.Field) -> Any:
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return None


def _implicit_meta(cls: type, spec: dataclasses.Field, prefix: str) -> dict[str, Any] | None:
    """Metadata of a field of a dataclass that declares its knobs in a ``SCHEMA`` class table instead
    (``PropagateConfig``: many knobs, all alike): each is an option of its group with its default in the help."""
    table = getattr(cls, "SCHEMA", None)
    if table is None:
        return None
    env = f"E2FGVI_{prefix.upper()}{spec.name.upper()}"
    given = {
        "help": f"default {_default(spec)} (or ${env})",
        "cli": {"metavar": "VALUE", "type": str},  # from_mapping converts (as it does environment values)
        "cli_group": prefix.rstrip("_"),
        **table.get(spec.name, {}),
    }
    return _meta(**given)


def _from_dataclass(cls: type, group: str | None, prefix: str) -> list[RequestField]:
    found = []
    for spec in dataclasses.fields(cls):
        meta = spec.metadata.get(_META) or _implicit_meta(cls, spec, prefix)
        if meta is None:
            raise TypeError(f"{cls.__name__}.{spec.name} is not declared with schema.request_field()")
        found.append(
            RequestField(
                key=prefix + spec.name,
                group=group,
                attr=spec.name,
                type=_type_name(spec.type),
                default=_default(spec),
                **meta,
            )
        )
    return found


@functools.cache
def request_fields() -> tuple[RequestField, ...]:
    """Every request setting, in ``RemovalRequest`` order (own fields first, then each nested config's)."""
    from e2fgvi_core.removal.request import RemovalRequest

    groups = dict(GROUPS)
    own = [f for f in dataclasses.fields(RemovalRequest) if f.name not in groups]
    nested = {f.name: f for f in dataclasses.fields(RemovalRequest) if f.name in groups}
    collected: list[RequestField] = []
    for spec in own:
        meta = spec.metadata.get(_META)
        if meta is None:
            raise TypeError(f"RemovalRequest.{spec.name} is not declared with schema.request_field()")
        collected.append(RequestField(spec.name, None, spec.name, _type_name(spec.type), _default(spec), **meta))
    for group, prefix in GROUPS:
        collected.extend(_from_dataclass(_nested_class(nested[group]), group, prefix))
    keys = [f.key for f in collected]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise TypeError(f"request keys declared twice: {', '.join(duplicates)}")
    return tuple(collected)


def _nested_class(spec: dataclasses.Field) -> type:
    return type(spec.default_factory())


@functools.cache
def _by_key() -> dict[str, RequestField]:
    return {f.key: f for f in request_fields()}


def request_keys() -> tuple[str, ...]:
    """Every key a ``submit`` request (or ``RemovalRequest.from_mapping``) accepts: one spelling per setting."""
    return tuple(_by_key())


def field_for(key: str) -> RequestField:
    """The field of wire key ``key``; ``ConfigError`` naming it and listing the valid keys otherwise."""
    try:
        return _by_key()[key]
    except KeyError:
        raise ConfigError(f"unknown request key {key!r}; valid keys: {', '.join(sorted(_by_key()))}") from None


def path_fields(*kinds: str) -> tuple[RequestField, ...]:
    """The fields that hold paths of these kinds (all path kinds when none is given)."""
    wanted = kinds or PATH_KINDS
    return tuple(f for f in request_fields() if f.path in wanted)


def pixel_fields() -> tuple[RequestField, ...]:
    """The fields whose value can change a written pixel (what a frame's provenance records)."""
    return tuple(f for f in request_fields() if f.pixels)


def is_uri(value: str) -> bool:
    """``ocio://default`` and the like: a name a library resolves, not a file path."""
    return "://" in value


def names_a_file(field: RequestField, value: str) -> bool:
    """Whether ``value`` of a path field is a file path (a ``weights`` value may be an installed name instead)."""
    if is_uri(value):
        return False
    if field.path != PATH_WEIGHTS:
        return True
    return (
        os.sep in value
        or "/" in value
        or value.startswith("~")
        or value.lower().endswith(_CHECKPOINT_SUFFIXES)
        or os.path.exists(value)
    )


def split_frames_entry(entry: str) -> tuple[str, str]:
    """``"1001,1050=clean.%04d.exr"`` -> ``("1001,1050", "clean.%04d.exr")`` (a ``read_frames`` entry)."""
    frames, sep, path = entry.partition("=")
    if not sep or not frames.strip() or not path:
        raise ConfigError(
            f"reference {entry!r} must be FRAMES=PATH, e.g. 1001=clean.1001.exr or 1001,1050=clean.%04d.exr"
        )
    return frames.strip(), path


def _each_path(field: RequestField, value: Any, change) -> Any:
    """``value`` with ``change(path)`` applied to each file path it names (entries of a ``read_frames`` list)."""
    if field.path == PATH_READ_FRAMES:
        if not isinstance(value, (list, tuple)):
            return value
        changed = []
        for entry in value:
            if not isinstance(entry, str):
                changed.append(entry)
                continue
            frames, path = split_frames_entry(entry)
            changed.append(f"{frames}={change(path)}")
        return type(value)(changed)
    if isinstance(value, str) and value and names_a_file(field, value):
        return change(value)
    return value


def absolutise_paths(mapping: Mapping[str, Any], base: str | os.PathLike | None = None) -> dict[str, Any]:
    """``mapping`` with every path field's value made absolute against ``base`` (default: the working folder).

    Why: a request travels to a server, a farm worker or a host whose working folder is not the caller's; relative
    paths mean what the caller meant only when resolved where the caller stands.
    """
    result = dict(mapping)
    root = os.fspath(base) if base is not None else os.getcwd()

    def absolute(path: str) -> str:
        return os.path.normpath(os.path.join(root, os.path.expanduser(path)))

    for field in path_fields():
        if field.key in result:
            result[field.key] = _each_path(field, result[field.key], absolute)
    return result


def check_paths_absolute(mapping: Mapping[str, Any]) -> None:
    """``ConfigError`` for a relative path in any path field: the receiver cannot know the sender's folder."""

    def refuse_relative(path: str, key: str) -> str:
        if not os.path.isabs(path):
            raise ConfigError(
                f"{key} {path!r} is relative: a request sent to another process carries absolute paths "
                "(`e2fgvi remove --server` and the client library make them absolute for you)"
            )
        return path

    for field in path_fields():
        if field.key in mapping:
            _each_path(field, mapping[field.key], lambda path, key=field.key: refuse_relative(path, key))


def file_paths(field: RequestField, value: Any) -> list[str]:
    """The file paths a path setting's value names (none for a URI or an installed weights name)."""
    found: list[str] = []
    _each_path(field, value, lambda path: found.append(path) or path)
    return found
