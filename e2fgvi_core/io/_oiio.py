"""The one place that talks to OpenImageIO's return-code API and turns failures into exceptions.

OpenImageIO reports failure by returning ``None``/``False`` and leaving a message in ``oiio.geterror()`` (for
``open``/``create``) or ``obj.geterror()``. Everything else in the package may assume a call either did its job or
raised an ``E2fgviError`` naming the file and OpenImageIO's own words.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import OpenImageIO as oiio

from e2fgvi_core.errors import E2fgviError

_BASETYPE_DTYPES = {
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "half": np.float16,
    "float": np.float32,
    "double": np.float64,
}
_DTYPE_FORMATS = {np.dtype(v): k for k, v in _BASETYPE_DTYPES.items()}

# Attributes OpenImageIO fills in by itself, that describe the file's layout, or that summarise pixels the engine
# may have changed: never copied out.
_SKIPPED_ATTRIBUTES = frozenset(
    {
        "oiio:subimages",
        "oiio:RowsPerChunk",
        "oiio:ColorSpace:auto",
        "oiio:UnassociatedAlpha",
        "oiio:miplevels",
        "oiio:ConstantColor",
        "oiio:AverageColor",
        "oiio:SHA-1",
    }
)

# Format-specific write controls and encodings: meaningful only when written back to the same format.
# oiio:ColorSpace is not one: it describes the values, so it is carried across formats.
_FORMAT_CONTROL_ATTRIBUTES = ("compression", "oiio:BitsPerSample", "Compression", "oiio:dither")


def dtype_for_format(typedesc: Any, where: str, error: type[E2fgviError]) -> np.dtype:
    """The numpy dtype that holds OpenImageIO pixel format ``typedesc`` without conversion."""
    name = str(typedesc)
    if name not in _BASETYPE_DTYPES:
        raise error(f"{where}: pixel format {name!r} is not supported; supported: {', '.join(_BASETYPE_DTYPES)}")
    return np.dtype(_BASETYPE_DTYPES[name])


def format_for_dtype(dtype: np.dtype, where: str, error: type[E2fgviError]) -> str:
    """The OpenImageIO format name that stores numpy ``dtype`` without conversion."""
    key = np.dtype(dtype)
    if key not in _DTYPE_FORMATS:
        supported = ", ".join(str(np.dtype(d)) for d in _BASETYPE_DTYPES.values())
        raise error(f"{where}: pixel dtype {key} cannot be written; supported: {supported}")
    return _DTYPE_FORMATS[key]


def open_input(path: str, error: type[E2fgviError]) -> Any:
    """``oiio.ImageInput.open`` that raises ``error`` with the path and OpenImageIO's message.

    Alpha is read as stored (``oiio:UnassociatedAlpha``): OpenImageIO would otherwise premultiply PNG/TIFF colour
    on read, and the frame would no longer go back out bit-identical.
    """
    config = oiio.ImageSpec()
    config.attribute("oiio:UnassociatedAlpha", 1)
    handle = oiio.ImageInput.open(path, config)
    if handle is None:
        raise error(f"cannot read {path}: {_message(oiio.geterror())}")
    return handle


def create_output(path: str, error: type[E2fgviError]) -> Any:
    """``oiio.ImageOutput.create`` that raises ``error`` listing the formats this OpenImageIO can write."""
    handle = oiio.ImageOutput.create(path)
    if handle is None:
        raise error(f"cannot write {path}: {_message(oiio.geterror())}; known extensions: {known_extensions()}")
    return handle


def check(ok: Any, handle: Any, action: str, path: str, error: type[E2fgviError]) -> Any:
    """Raise ``error`` when an OpenImageIO call returned a failure value (``False``/``None``)."""
    if ok is None or ok is False:
        message = handle.geterror() if handle is not None else ""
        raise error(f"cannot {action} {path}: {_message(message or oiio.geterror())}")
    return ok


def read_attributes(spec: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The image's attributes as ``(values, type names)``, skipping those OpenImageIO adds on its own."""
    values: dict[str, Any] = {}
    types: dict[str, str] = {}
    for param in spec.extra_attribs:
        if param.name in _SKIPPED_ATTRIBUTES:
            continue
        values[param.name] = param.value
        types[param.name] = _type_name(param.type)
    return values, types


def _type_name(typedesc: Any) -> str:
    """A type name that ``oiio.TypeDesc`` parses back on every OpenImageIO this package supports.

    OpenImageIO 3.0 prints a rational as ``rational2i``, a name its own ``TypeDesc`` does not parse, so the writer
    would store the frame rate as a plain pair of ints; ``rational`` parses on 2.5 to 3.2.
    """
    return "rational" if typedesc == oiio.TypeRational else str(typedesc)


def write_attributes(spec: Any, values: dict[str, Any], types: dict[str, str], same_format: bool) -> None:
    """Set attributes on an output ``spec``, restoring each one's original OpenImageIO type where known."""
    for name, value in values.items():
        if name in _SKIPPED_ATTRIBUTES:
            continue
        if not same_format and _is_format_control(name):
            continue
        type_name = types.get(name)
        if type_name:
            typedesc = oiio.TypeDesc(type_name)
            if str(typedesc) != "unknown":
                spec.attribute(name, typedesc, value)
                continue
        _set_inferred(spec, name, value)


@functools.cache
def _extension_table() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``(format name, its extensions)`` for each format of this OpenImageIO build, parsed once."""
    entries = (entry.partition(":") for entry in oiio.get_string_attribute("extension_list").split(";"))
    return tuple((name, tuple(exts.split(","))) for name, _, exts in entries)


def known_extensions() -> str:
    """The file extensions this OpenImageIO build knows, e.g. ``exr, tif, png, jpg, dpx``."""
    return ", ".join(ext for _, exts in _extension_table() for ext in exts if ext)


def format_of(path: str) -> str | None:
    """OpenImageIO's format name (``openexr``, ``png``...) for a file name's extension, None when unknown."""
    ext = path.rpartition(".")[2].lower() if "." in path else ""
    return next((name for name, exts in _extension_table() if ext in exts), None)


def _is_format_control(name: str) -> bool:
    if name in _FORMAT_CONTROL_ATTRIBUTES:
        return True
    prefix = name.partition(":")[0]
    return ":" in name and prefix in {"openexr", "tiff", "png", "jpeg", "dpx", "cineon"}


def _set_inferred(spec: Any, name: str, value: Any) -> None:
    setter: Callable[..., None] = spec.attribute
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        setter(name, int(value))
    elif isinstance(value, (float, np.floating)):
        setter(name, float(value))
    elif isinstance(value, (tuple, list)) and value and all(isinstance(v, (int, float)) for v in value):
        if all(isinstance(v, int) for v in value):
            setter(name, oiio.TypeDesc(f"int[{len(value)}]"), tuple(int(v) for v in value))
        else:
            setter(name, oiio.TypeDesc(f"float[{len(value)}]"), tuple(float(v) for v in value))
    else:
        setter(name, str(value))


def _message(text: str) -> str:
    """OpenImageIO messages can span lines; ours are one line."""
    return " ".join(str(text).split()) or "unknown OpenImageIO error"
