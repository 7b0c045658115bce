"""Protocol v1 between ``e2fgvi-server`` and its clients: the one contract both sides are written against.

Why a module of its own: the host side (``e2fgvi_host``) imports this file and, of ours, only ``e2fgvi_core.errors``
(standard library only), because a host's Python cannot load torch. So this module uses only the standard library,
numpy and msgpack. Everything both ends must agree on lives here once: message types, error codes (taken from the
error tree), heartbeat numbers, loopback detection, and the fields of frames by value, results and progress. The
client packs with the same functions the server unpacks with.

A message is a ZeroMQ multipart message: part 0 is a msgpack map (the *header*) with at least ``v`` (protocol
version) and ``type``; parts 1..n are raw little-endian pixel buffers, described in order by ``header["buffers"]``
(``dtype``, ``shape``, ``channels``). Buffers are never serialised: they are sent from and received into numpy
memory without copies. Nothing received is evaluated or unpickled; msgpack extension types are refused.
``docs/protocol.md`` is the prose version of this file.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from e2fgvi_core import errors, user_dirs
from e2fgvi_core.errors import (
    ClientError,
    ConfigError,
    E2fgviError,
    ProtocolError,
    RequestTimeoutError,
    ServerUnavailableError,
)

__all__ = [  # the error classes a client catches, re-exported so the host side needs this one module
    "ClientError",
    "E2fgviError",
    "ProtocolError",
    "RemoteError",
    "RequestTimeoutError",
    "ServerUnavailableError",
]

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
FOOTPRINT = "footprint"  # which shot frames producing a request's frames reads (the engine's own plan)
FOOTPRINT_FRAME_LIMIT = 1000  # frames one footprint answers (the broker's thread answers it): a host chunk's limit too
MESSAGE_TYPES = (HELLO, SUBMIT, ACCEPTED, PROGRESS, RESULT, ERROR, CANCEL, STATUS, PING, PONG, SHUTDOWN, FOOTPRINT)
CLIENT_TYPES = (HELLO, SUBMIT, CANCEL, STATUS, PING, SHUTDOWN, FOOTPRINT)
SERVER_TYPES = (HELLO, ACCEPTED, PROGRESS, RESULT, ERROR, STATUS, PONG, SHUTDOWN, FOOTPRINT)

# Error codes: the ``code`` of the e2fgvi_core.errors class that raised them (one source: the error tree).
E2FGVI_ERROR = errors.E2fgviError.code
PROTOCOL_ERROR = errors.ProtocolError.code
CONFIG_ERROR = errors.ConfigError.code
SEQUENCE_ERROR = errors.SequenceError.code
MISSING_FRAMES = errors.MissingFramesError.code
MATTE_ERROR = errors.MatteError.code
CHECKPOINT_ERROR = errors.CheckpointError.code
DEVICE_ERROR = errors.DeviceError.code
OUTPUT_ERROR = errors.OutputError.code
CANCELLED = errors.JobCancelled.code
ACCESS_DENIED = errors.AccessDeniedError.code
UNKNOWN_JOB = errors.UnknownJobError.code
MODEL_INPUT_ERROR = errors.ModelInputError.code
INTERNAL_ERROR = "internal_error"  # a bug in the server: never raised on purpose, always logged with a traceback
ERROR_CODES = (*errors.ERROR_CLASSES, INTERNAL_ERROR)  # client_error, server_unavailable, timeout: client-side only

# Heartbeats (zguide): a peer silent for INTERVAL x LIVENESS is taken as gone, by the client and the server alike.
HEARTBEAT_INTERVAL_S = 1.0
HEARTBEAT_LIVENESS = 3

# Pixel buffers: the dtypes a buffer may have, as numpy names (always little-endian on the wire).
BUFFER_DTYPES = {"float16": np.dtype("<f2"), "float32": np.dtype("<f4"), "uint8": np.dtype("u1")}
MAX_BUFFER_DIMS = 3

# Limits applied when decoding a header, whatever the transport limit (ZMQ_MAXMSGSIZE) is.
MAX_HEADER_BYTES = 1 << 20
MAX_BUFFERS = 4096
MAX_STRING = 1 << 16
MAX_ARRAY = 1 << 16
MAX_MAP = 1 << 12


class RemoteError(E2fgviError):
    """An ``error`` reply from the peer, carrying its ``code`` and one-line ``message``.

    ``code`` is the peer's, per instance, so ``errors.class_for_code(exc.code)`` gives the class that raised it there.
    """

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


def _map_without_duplicates(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    """A msgpack map, refusing a key given twice: msgpack keeps the last silently, so a setting could be sent
    twice and be checked under one value and used under the other."""
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[Any] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ConfigError(f"key {twice!r} appears twice in one map: give each setting once")
    return mapping


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
            object_pairs_hook=_map_without_duplicates,
            max_str_len=MAX_STRING,
            max_bin_len=max_header_bytes,
            max_array_len=MAX_ARRAY,
            max_map_len=MAX_MAP,
            max_ext_len=64,
        )
    except (ProtocolError, ConfigError):
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


# --- loopback: who counts as "this machine" -------------------------------------------------------------------
def is_loopback_endpoint(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// endpoints whose host is a loopback address (127.0.0.0/8, ::1).

    The server binds only such endpoints without CURVE; the client starts a local server only for them.
    """
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://") :].rsplit(":", 1)[0]
    if ";" in host:  # tcp://source;dest form: what matters is the address we listen on / talk to
        host = host.split(";")[-1]
    return is_loopback_host(host)


def is_loopback_peer(peer_address: str | None) -> bool:
    """True when a message came over ipc/inproc (no peer address) or from a loopback TCP address (with or without
    a port)."""
    if not peer_address:
        return True
    if is_loopback_host(peer_address):
        return True
    return peer_address.count(":") == 1 and is_loopback_host(peer_address.rsplit(":", 1)[0])


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP address (brackets around IPv6 allowed); '*' and names are not."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # '*', an interface name or a hostname: could be reachable from the network


# --- frames by value (submit) ---------------------------------------------------------------------------------
VALUE_INPUT_FIELDS = ("plate_frames", "matte_frames")


@dataclass(frozen=True)
class ValueFrame:
    """One input frame sent by value, as the server receives it: pixels (h, w, c) plus the EXR windows.

    Windows are always filled in (default: the whole buffer at 0, 0), so the receiver builds its frame as is.
    """

    frame: int
    pixels: np.ndarray
    channels: tuple[str, ...]
    data_window: tuple[int, int, int, int]
    display_window: tuple[int, int, int, int]
    metadata: dict[str, str | int | float] = field(default_factory=dict)


def pack_submit(
    key: str,
    request: Mapping[str, Any],
    *,
    plate_frames: Mapping[int, Any] | None = None,
    matte_frames: Mapping[int, Any] | None = None,
    priority: int = 0,
    keep_running: bool = False,
    secret: str | None = None,
    access_key: str | None = None,
) -> list[Any]:
    """The parts of a ``submit``: header first, then one buffer per frame by value (views of the arrays).

    A frame is an array (h, w[, c]) or an object with ``pixels`` and optionally ``channels``, ``data_window`` and
    ``display_window`` (e.g. ``e2fgvi_core.io.Frame``).
    """
    fields: dict[str, Any] = {
        "key": key,
        "request": dict(request),
        "priority": int(priority),
        "keep_running": bool(keep_running),
    }
    if access_key is not None:
        fields[ACCESS_KEY_FIELD] = access_key
    if secret is not None:
        fields["secret"] = secret  # proves a resubmit from a new connection is the submitter's (not part of the job)
    arrays: list[np.ndarray] = []
    channels: list[list[str] | None] = []
    for name, frames in zip(VALUE_INPUT_FIELDS, (plate_frames, matte_frames)):
        if frames is None:
            continue
        entries = []
        for number, value in sorted(frames.items()):
            pixels = np.asarray(getattr(value, "pixels", value))
            if pixels.ndim == 2:
                pixels = pixels[:, :, None]
            if pixels.dtype.name not in BUFFER_DTYPES:
                raise ProtocolError(
                    f"{name} frame {number}: dtype {pixels.dtype} cannot travel; convert to "
                    f"one of {', '.join(BUFFER_DTYPES)}"
                )
            entry: dict[str, Any] = {"frame": int(number), "buffer": len(arrays)}
            for window in ("data_window", "display_window"):
                if getattr(value, window, None) is not None:
                    entry[window] = [int(v) for v in getattr(value, window)]
            arrays.append(pixels)
            names = getattr(value, "channels", None)
            channels.append(list(names) if names else None)
            entries.append(entry)
        fields[name] = entries
    return encode(SUBMIT, fields, arrays, channels)


def unpack_value_inputs(message: Message) -> dict[str, list[ValueFrame]]:
    """The frames by value of a ``submit`` (``plate_frames``/``matte_frames``), checked against its buffers.

    Each entry names a frame number and a buffer index; each buffer may be used once, plate buffers must be
    (h, w, c), and a matte alone is refused. Raises ``ProtocolError`` naming the entry at fault.
    """
    inputs: dict[str, list[ValueFrame]] = {}
    used: set[int] = set()
    for name in VALUE_INPUT_FIELDS:
        entries = message.get(name)
        if entries is None:
            continue
        if not isinstance(entries, list) or not entries:
            raise ProtocolError(f"submit '{name}' must be a non-empty list of {{frame, buffer}} maps")
        frames = []
        seen: set[int] = set()
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ProtocolError(f"submit {name}[{i}] must be a map with 'frame' and 'buffer'")
            frame = require(entry, "frame", int, f"{name}[{i}]")
            if frame in seen:
                raise ProtocolError(f"submit {name}[{i}] names frame {frame} a second time; give each frame once")
            seen.add(frame)
            index = require(entry, "buffer", int, f"{name}[{i}]")
            if not 0 <= index < len(message.arrays) or index in used:
                raise ProtocolError(
                    f"submit {name}[{i}] names buffer {index}, but the message carries "
                    f"buffers 0..{len(message.arrays) - 1} and each may be used once"
                )
            used.add(index)
            pixels = message.arrays[index]
            if pixels.ndim != 3 and name == "plate_frames":
                raise ProtocolError(f"submit {name}[{i}] buffer must be (h, w, c), got {pixels.shape}")
            if pixels.ndim == 2:
                pixels = pixels[:, :, None]
            h, w = pixels.shape[:2]
            data_window = _window(entry.get("data_window"), f"{name}[{i}].data_window") or (0, 0, w, h)
            display_window = _window(entry.get("display_window"), f"{name}[{i}].display_window") or data_window
            metadata = entry.get("metadata")
            frames.append(
                ValueFrame(
                    frame=frame,
                    pixels=pixels,
                    channels=tuple(message.channels[index]),
                    data_window=data_window,
                    display_window=display_window,
                    metadata=_plain_metadata(metadata) if isinstance(metadata, dict) else {},
                )
            )
        inputs[name] = frames
    if inputs and "plate_frames" not in inputs:
        raise ProtocolError("submit by value needs 'plate_frames' (the matte alone is not enough)")
    return inputs


def _plain_metadata(metadata: Mapping[Any, Any]) -> dict[str, str | int | float]:
    """Only string keys with string/number values travel: nothing else is meaningful to the other side."""
    return {k: v for k, v in metadata.items() if isinstance(k, str) and isinstance(v, (str, int, float))}


def _window(value: Any, what: str) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ProtocolError(f"{what} must be [x, y, width, height] integers, got {value!r}")
    return tuple(value)


# --- results and progress (server to client) ------------------------------------------------------------------
@dataclass
class ResultFrame:
    """One finished frame: ``path`` when the server wrote it, else ``pixels`` (h, w, c) by value."""

    frame: int
    path: str | None = None
    pixels: np.ndarray | None = None
    channels: list[str] = field(default_factory=list)
    data_window: tuple[int, int, int, int] | None = None
    display_window: tuple[int, int, int, int] | None = None


def result_frame_message(frame: int, result: Any) -> tuple[dict[str, Any], list[np.ndarray], list[Any]]:
    """Fields, arrays and channels of a per-frame ``result`` by value (``result``: an array or a Frame-like).

    Pixels keep their dtype when it can travel; uint16/float64 plates come back as float32.
    """
    pixels = np.asarray(getattr(result, "pixels", result))
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = list(getattr(result, "channels", ()) or []) or None
    if pixels.dtype.name not in BUFFER_DTYPES:
        pixels = pixels.astype(np.float32)
    fields: dict[str, Any] = {"frame": int(frame), "buffer": 0}
    for name in ("data_window", "display_window"):
        window = getattr(result, name, None)
        if window is not None:
            fields[name] = [int(v) for v in window]
    return fields, [pixels], [channels]


def result_frame_fields(frame: int, path: str) -> dict[str, Any]:
    """Fields of a per-frame ``result`` the server wrote to ``path``."""
    return {"frame": int(frame), "path": str(path)}


def parse_result_frame(message: Message) -> ResultFrame | None:
    """The frame a per-frame ``result`` carries (None when it names no integer frame)."""
    frame = message.get("frame")
    if not isinstance(frame, int) or isinstance(frame, bool):
        return None
    result = ResultFrame(frame=frame, path=message.get("path"))
    index = message.get("buffer")
    if isinstance(index, int) and 0 <= index < len(message.arrays):
        result.pixels = message.arrays[index]
        result.channels = message.channels[index]
        for name in ("data_window", "display_window"):
            value = message.get(name)
            if isinstance(value, list) and len(value) == 4:
                setattr(result, name, tuple(value))
    return result


@dataclass(frozen=True)
class ProgressFields:
    """The fields of a ``progress`` message; ``eta_s`` is None while unknown."""

    frames_done: int
    frames_total: int
    stage: str
    elapsed_s: float
    eta_s: float | None

    def to_fields(self) -> dict[str, Any]:
        return {
            "frames_done": int(self.frames_done),
            "frames_total": int(self.frames_total),
            "stage": str(self.stage),
            "elapsed_s": round(float(self.elapsed_s), 3),
            "eta_s": None if self.eta_s is None else round(float(self.eta_s), 3),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any]) -> ProgressFields:
        """Lenient on purpose: a progress message only draws a bar, it never fails a job."""
        eta = fields.get("eta_s")
        return cls(
            int(fields.get("frames_done") or 0),
            int(fields.get("frames_total") or 0),
            str(fields.get("stage") or ""),
            float(fields.get("elapsed_s") or 0.0),
            None if eta is None else float(eta),
        )


# --- footprint: which shot frames a request reads ---------------------------------------------------------------
def footprint_fields(request: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a ``footprint`` request: a submit's ``request`` (``shot``, ``frames``, engine settings);
    nothing is read or run, the server answers from the engine's plan."""
    return {"request": dict(request)}


def footprint_reply_fields(engine: str, reads_by_frame: Mapping[int, Sequence[int]]) -> dict[str, Any]:
    """The fields of a ``footprint`` reply: the engine the request resolves to, and for each frame to produce the
    shot frames (absolute numbers) producing it reads, plus their union in ``reads``."""
    union = sorted({int(n) for reads in reads_by_frame.values() for n in reads})
    return {
        "engine": str(engine),
        "reads": union,
        "frames_read": [
            {"frame": int(frame), "reads": sorted(int(n) for n in reads)}
            for frame, reads in sorted(reads_by_frame.items())
        ],
    }


def parse_footprint(message: Message) -> dict[int, list[int]]:
    """``{frame: [shot frames it reads]}`` of a ``footprint`` reply; raises ``ProtocolError`` on a malformed one."""
    entries = message.get("frames_read")
    if not isinstance(entries, list):
        raise ProtocolError("footprint reply needs a 'frames_read' list of {frame, reads} maps")
    out: dict[int, list[int]] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ProtocolError(f"footprint frames_read[{i}] must be a map with 'frame' and 'reads'")
        frame = require(entry, "frame", int, f"frames_read[{i}]")
        reads = require(entry, "reads", list, f"frames_read[{i}]")
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in reads):
            raise ProtocolError(f"footprint frames_read[{i}].reads must list frame numbers")
        out[frame] = list(reads)
    return out


# --- who may use a server: the per-user access key ------------------------------------------------------------
ACCESS_KEY_FILE_ENV = "E2FGVI_SERVER_ACCESS_KEY_FILE"
ACCESS_KEY_FIELD = "access_key"


def default_access_key_file() -> str:
    """Where the server's user keeps the access key (mode 0600): ``$E2FGVI_SERVER_ACCESS_KEY_FILE``, else
    ``server-access.key`` in this user's e2fgvi configuration folder (``user_dirs.user_config_dir()``: e.g.
    ``$XDG_CONFIG_HOME/e2fgvi``, ``~/.config/e2fgvi`` by default on Linux). Another local user cannot read it."""
    explicit = os.environ.get(ACCESS_KEY_FILE_ENV)
    if explicit:
        return os.path.expanduser(explicit)
    return str(user_dirs.user_config_dir() / "server-access.key")


def private_temp_root() -> str:
    """This user's folder in the temp dir (``/tmp/e2fgvi-<uid>``): the world-writable temp dir itself is never
    written to (another user could plant a link there); ``ensure_private_folder`` makes it 0700 or refuses it."""
    import getpass
    import tempfile

    uid = os.getuid() if hasattr(os, "getuid") else getpass.getuser()
    return os.path.join(tempfile.gettempdir(), f"e2fgvi-{uid}")


def ensure_private_folder(path: str) -> str:
    """Make ``path`` (0700) or accept it only when it is a folder of this user that nobody else may write to;
    raise ``ConfigError`` otherwise (a link, another owner, or group/world-writable). Returns ``path``."""
    import stat

    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    owner_ok = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    if not stat.S_ISDIR(info.st_mode) or not owner_ok or info.st_mode & 0o022:
        raise errors.ConfigError(
            f"{path} is not a private folder of this user (a link, another owner, or writable by others): remove it"
        )
    return path


def read_access_key(path: str | None = None) -> str | None:
    """The access key a client sends in ``hello``/``status``/``submit``/``cancel``; None when it cannot be read
    (not this user's server, or no server started yet)."""
    try:
        with open(path or default_access_key_file(), encoding="ascii") as handle:
            return handle.read().strip() or None
    except (OSError, UnicodeDecodeError):
        return None
