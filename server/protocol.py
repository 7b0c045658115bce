"""Protocol v1 between ``e2fgvi-server`` and its clients: the one contract both sides are written against.

Why a module of its own: the host side (``host_plugin``) may import this file and nothing else of ours, because a
host's Python cannot load torch. So this module uses only the standard library, numpy and msgpack (never
``e2fgvi_core``), and mirrors the ``code`` strings of ``e2fgvi_core.errors`` as plain constants.

A message is a ZeroMQ multipart message: part 0 is a msgpack map (the *header*) with at least ``v`` (protocol
version) and ``type``; parts 1..n are raw little-endian pixel buffers, described in order by ``header["buffers"]``
(``dtype``, ``shape``, ``channels``). Buffers are never serialised: they are sent from and received into numpy
memory without copies. Nothing received is evaluated or unpickled; msgpack extension types are refused.
``docs/protocol.md`` is the prose version of this file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)
DEFAULT_PORT = 5577
DEFAULT_ADDRESS = f"tcp://127.0.0.1:{DEFAULT_PORT}"

# Message types (snake-case, defined once here).
HELLO = "hello"
SUBMIT = "submit"
ACCEPTED = "accepted"
PROGRESS = "progress"
RESULT = "result"
ERROR = "error"
CANCEL = "cancel"
STATUS = "status"
PING = "ping"
PONG = "pong"
SHUTDOWN = "shutdown"
MESSAGE_TYPES = (HELLO, SUBMIT, ACCEPTED, PROGRESS, RESULT, ERROR, CANCEL, STATUS, PING, PONG, SHUTDOWN)
CLIENT_TYPES = (HELLO, SUBMIT, CANCEL, STATUS, PING, SHUTDOWN)
SERVER_TYPES = (HELLO, ACCEPTED, PROGRESS, RESULT, ERROR, STATUS, PONG, SHUTDOWN)

# Error codes: equal to the ``code`` of the e2fgvi_core.errors class that raised them (a test checks it).
E2FGVI_ERROR = "e2fgvi_error"
PROTOCOL_ERROR = "protocol_error"
CONFIG_ERROR = "config_error"
SEQUENCE_ERROR = "sequence_error"
MISSING_FRAMES = "missing_frames"
MATTE_ERROR = "matte_error"
CHECKPOINT_ERROR = "checkpoint_error"
DEVICE_ERROR = "device_error"
OUTPUT_ERROR = "output_error"
CANCELLED = "cancelled"
ACCESS_DENIED = "access_denied"
UNKNOWN_JOB = "unknown_job"
MODEL_INPUT_ERROR = "model_input_error"
INTERNAL_ERROR = "internal_error"  # a bug in the server: never raised on purpose, always logged with a traceback
ERROR_CODES = (
    E2FGVI_ERROR,
    PROTOCOL_ERROR,
    CONFIG_ERROR,
    SEQUENCE_ERROR,
    MISSING_FRAMES,
    MATTE_ERROR,
    CHECKPOINT_ERROR,
    DEVICE_ERROR,
    OUTPUT_ERROR,
    CANCELLED,
    ACCESS_DENIED,
    UNKNOWN_JOB,
    MODEL_INPUT_ERROR,
    INTERNAL_ERROR,
)

# Pixel buffers: the dtypes a buffer may have, as numpy names (always little-endian on the wire).
BUFFER_DTYPES = {"float16": np.dtype("<f2"), "float32": np.dtype("<f4"), "uint8": np.dtype("u1")}
MAX_BUFFER_DIMS = 3

# Limits applied when decoding a header, whatever the transport limit (ZMQ_MAXMSGSIZE) is.
MAX_HEADER_BYTES = 1 << 20
MAX_BUFFERS = 4096
MAX_STRING = 1 << 16
MAX_ARRAY = 1 << 16
MAX_MAP = 1 << 12


class WireError(Exception):
    """Root of the errors this module raises; ``code`` is what goes into an ``error`` reply."""

    code = E2FGVI_ERROR


class ProtocolError(WireError):
    """A message is malformed, lies about its buffers, or speaks another protocol version.

    Same ``code`` as ``e2fgvi_core.errors.ProtocolError``; kept separate so host Pythons need not import the core.
    """

    code = PROTOCOL_ERROR

    def __init__(self, message: str, header: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.header = dict(header or {})  # what could be decoded, so a reply can still echo ``req`` and ``key``


class RemoteError(WireError):
    """An ``error`` reply from the peer, carrying its ``code`` and one-line ``message``."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = dict(details or {})


@dataclass
class Message:
    """A decoded message: the header map plus its pixel buffers as numpy arrays (views, not copies)."""

    type: str
    header: dict[str, Any]
    arrays: list[np.ndarray] = field(default_factory=list)
    channels: list[list[str]] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.header.get(key, default)


def _refuse_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(f"msgpack extension type {code} is not allowed in protocol v{PROTOCOL_VERSION}")


def pack_header(header: Mapping[str, Any]) -> bytes:
    """msgpack-encode a header map (plain types only: no extension types, no pickle)."""
    return msgpack.packb(dict(header), use_bin_type=True, strict_types=False)


def unpack_header(data: bytes | memoryview, max_header_bytes: int = MAX_HEADER_BYTES) -> dict[str, Any]:
    """Decode and check a header: a msgpack map with an int ``v`` and a known string ``type``.

    The version is checked before anything else so that a client of another version gets a clear
    ``protocol_error`` naming both versions, whatever else its header holds.
    """
    if len(data) > max_header_bytes:
        raise ProtocolError(f"header of {len(data)} bytes exceeds the limit of {max_header_bytes} bytes")
    try:
        header = msgpack.unpackb(
            bytes(data),
            raw=False,
            use_list=True,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            max_str_len=MAX_STRING,
            max_bin_len=max_header_bytes,
            max_array_len=MAX_ARRAY,
            max_map_len=MAX_MAP,
            max_ext_len=64,
        )
    except ProtocolError:
        raise
    except Exception as exc:  # noqa: BLE001 - msgpack raises ExtraData, FormatError, ValueError, UnicodeDecodeError...
        raise ProtocolError(f"header is not valid msgpack: {type(exc).__name__}: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"header must be a msgpack map, got {type(header).__name__}")
    version = header.get("v")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ProtocolError(
            f"header has no integer 'v' (protocol version); this peer speaks v{PROTOCOL_VERSION}", header
        )
    if version not in SUPPORTED_VERSIONS:
        raise ProtocolError(
            f"protocol version {version} is not supported; this peer speaks "
            f"{', '.join(f'v{v}' for v in SUPPORTED_VERSIONS)}",
            header,
        )
    kind = header.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind!r}; valid types: {', '.join(MESSAGE_TYPES)}", header)
    return header


def describe_buffer(array: np.ndarray, channels: Sequence[str] | None = None) -> dict[str, Any]:
    """The header entry that describes one pixel buffer (dtype name, shape, channel names)."""
    name = np.dtype(array.dtype).name
    if name not in BUFFER_DTYPES:
        raise ProtocolError(f"buffer dtype {name} cannot travel; valid dtypes: {', '.join(BUFFER_DTYPES)}")
    if not 1 <= array.ndim <= MAX_BUFFER_DIMS:
        raise ProtocolError(f"buffer must have 1 to {MAX_BUFFER_DIMS} dimensions, got shape {array.shape}")
    if channels is None:
        channels = _default_channels(array.shape[-1] if array.ndim == 3 else 1)
    channels = [str(c) for c in channels]
    expected = array.shape[-1] if array.ndim == 3 else 1
    if len(channels) != expected:
        raise ProtocolError(f"{len(channels)} channel names given for a buffer of shape {array.shape}")
    return {"dtype": name, "shape": [int(s) for s in array.shape], "channels": channels}


def _default_channels(n: int) -> list[str]:
    names = {1: ["Y"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}
    return names.get(n, [f"c{i}" for i in range(n)])


def encode(
    kind: str,
    fields: Mapping[str, Any] | None = None,
    arrays: Sequence[np.ndarray] = (),
    channels: Sequence[Sequence[str] | None] | None = None,
) -> list[Any]:
    """Build the parts of one message: ``[header, buffer, ...]`` ready for ``socket.send_multipart(copy=False)``.

    Buffers are passed as memoryviews of the arrays (made C-contiguous and little-endian first only when they
    are not), so ZeroMQ sends them straight from numpy memory.
    """
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(f"unknown message type {kind!r}; valid types: {', '.join(MESSAGE_TYPES)}")
    header = {"v": PROTOCOL_VERSION, "type": kind}
    header.update(fields or {})
    parts: list[Any] = []
    descriptors = []
    for index, array in enumerate(arrays):
        array = np.asarray(array)
        wire_dtype = BUFFER_DTYPES.get(array.dtype.name)
        if wire_dtype is not None and array.dtype != wire_dtype:
            array = array.astype(wire_dtype)
        array = np.ascontiguousarray(array)
        descriptors.append(describe_buffer(array, channels[index] if channels else None))
        parts.append(memoryview(array).cast("B") if array.size else b"")
    if descriptors:
        header["buffers"] = descriptors
    return [pack_header(header), *parts]


def _buffer_bytes(part: Any) -> memoryview:
    buf = getattr(part, "buffer", None)  # zmq.Frame received with copy=False
    if buf is None:
        buf = part
    view = memoryview(buf)
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def decode(parts: Sequence[Any], max_header_bytes: int = MAX_HEADER_BYTES) -> Message:
    """Decode the parts of one message (bytes or ``zmq.Frame``) into a ``Message``; raises ``ProtocolError``.

    Every buffer must match its descriptor exactly (dtype, shape, byte count): a header that lies about its
    buffers is refused rather than trusted, so a reader never runs past the end of received memory.
    """
    if not parts:
        raise ProtocolError("empty message: expected a msgpack header as the first part")
    header = unpack_header(_buffer_bytes(parts[0]), max_header_bytes)
    try:
        return _decode_body(header, list(parts[1:]))
    except ProtocolError as exc:
        exc.header = header
        raise


def _decode_body(header: dict[str, Any], buffers: list[Any]) -> Message:
    descriptors = header.pop("buffers", [])
    if not isinstance(descriptors, list):
        raise ProtocolError("'buffers' must be a list of {dtype, shape, channels} maps")
    if len(descriptors) > MAX_BUFFERS:
        raise ProtocolError(f"{len(descriptors)} buffers exceed the limit of {MAX_BUFFERS}")
    if len(descriptors) != len(buffers):
        raise ProtocolError(f"header describes {len(descriptors)} buffers but the message carries {len(buffers)}")
    arrays, channels = [], []
    for index, (desc, part) in enumerate(zip(descriptors, buffers)):
        array, names = _decode_buffer(index, desc, _buffer_bytes(part))
        arrays.append(array)
        channels.append(names)
    return Message(type=header["type"], header=header, arrays=arrays, channels=channels)


def _decode_buffer(index: int, desc: Any, data: memoryview) -> tuple[np.ndarray, list[str]]:
    if not isinstance(desc, dict):
        raise ProtocolError(f"buffers[{index}] must be a map with dtype, shape and channels")
    dtype = BUFFER_DTYPES.get(desc.get("dtype")) if isinstance(desc.get("dtype"), str) else None
    if dtype is None:
        raise ProtocolError(
            f"buffers[{index}].dtype {desc.get('dtype')!r} is not valid; valid dtypes: {', '.join(BUFFER_DTYPES)}"
        )
    shape = desc.get("shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= MAX_BUFFER_DIMS
        or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 1 << 20 for s in shape)
    ):
        raise ProtocolError(
            f"buffers[{index}].shape {shape!r} must be a list of 1 to {MAX_BUFFER_DIMS} non-negative integers"
        )
    expected = math.prod(shape) * dtype.itemsize
    if expected != data.nbytes:
        raise ProtocolError(
            f"buffers[{index}] is described as {desc.get('dtype')} {shape} ({expected} bytes) "
            f"but carries {data.nbytes} bytes"
        )
    names = desc.get("channels")
    n_channels = shape[-1] if len(shape) == 3 else 1
    if names is None:
        names = _default_channels(n_channels)
    if not isinstance(names, list) or len(names) != n_channels or not all(isinstance(n, str) for n in names):
        raise ProtocolError(f"buffers[{index}].channels must list {n_channels} channel names, got {names!r}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape) if expected else np.zeros(shape, dtype)
    return array, names


def error_fields(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """The fields of an ``error`` message; ``extra`` carries ``req``, ``job_id``, ``key`` or details."""
    fields = {"code": str(code), "message": str(message)}
    fields.update({k: v for k, v in extra.items() if v is not None})
    return fields


def require(header: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str = "") -> Any:
    """Return ``header[key]`` if present and of type ``kind``; else raise a ``ProtocolError`` naming the key."""
    value = header.get(key)
    if value is None or not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int, float))):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        where = f" in {what}" if what else ""
        raise ProtocolError(f"field {key!r}{where} must be a {names}, got {type(value).__name__}")
    return value
