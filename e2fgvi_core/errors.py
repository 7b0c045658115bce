"""The error tree of the project.

Every error a user can cause has its own class with a stable ``code``: the CLI prints the message on one line
and exits non-zero, and the server sends ``code`` and message in an ``error`` reply. Messages name the file,
frame or key at fault and, where there is a choice, list the valid alternatives.

There is one root, ``E2fgviError``, for the engine, the server, the client library and the CLI alike; the wire
codes are these classes' codes (``e2fgvi_server.protocol`` takes them from here) and ``ERROR_CLASSES`` is the one
table that turns a code received from a server back into its class. This module imports only the standard library,
so the host side (``e2fgvi_host``) can load it in a host's Python without torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class E2fgviError(Exception):
    """Root of all errors raised on purpose by this project."""

    code = "e2fgvi_error"


class CheckpointError(E2fgviError):
    """A weights file is missing, unreadable, truncated, unsafe or for another model."""

    code = "checkpoint_error"


class SequenceError(E2fgviError):
    """An image-sequence pattern, frame range or file cannot be used."""

    code = "sequence_error"


class MissingFramesError(SequenceError):
    """Frames of the requested range are not on disk."""

    code = "missing_frames"


class MatteError(E2fgviError):
    """A matte is missing, has the wrong size or names a channel that does not exist."""

    code = "matte_error"


class ConfigError(E2fgviError):
    """A configuration value (CLI flag, submit parameter, environment variable) is invalid."""

    code = "config_error"


class DeviceError(E2fgviError):
    """The compute device is unavailable or ran out of memory."""

    code = "device_error"


class OutputError(E2fgviError):
    """An output cannot be written (folder not writable, path outside the allowed roots)."""

    code = "output_error"


class ProtocolError(E2fgviError):
    """A message on the wire is malformed or of an unsupported protocol version.

    ``header`` keeps what could be decoded, so a reply can still echo the request's ``req`` and ``key``.
    """

    code = "protocol_error"

    def __init__(self, message: str, header: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.header = dict(header or {})


class JobCancelled(E2fgviError):
    """A job was cancelled by its client, a lapsed heartbeat or a server shutdown."""

    code = "cancelled"


class AccessDeniedError(E2fgviError):
    """A request the server refuses for this peer: shutdown without the token or from another machine."""

    code = "access_denied"


class UnknownJobError(E2fgviError):
    """A cancel names a job id or key the server does not know (finished long ago, or from before a restart)."""

    code = "unknown_job"


class TrainingError(E2fgviError):
    """Training cannot go on: it diverged (non-finite losses even after rolling back) or its run folder is unusable."""

    code = "training_error"


class KeyConflictError(E2fgviError):
    """A submit reuses the key of another job with a different request: refused, never attached to the old job."""

    code = "key_conflict"


class ModelInputError(E2fgviError, ValueError):
    """A tensor given to the generator has a shape the model variant cannot process."""

    code = "model_input_error"


class ClientError(E2fgviError):
    """Raised by the client library itself, not sent by a server (a closed client, a bad CURVE key file)."""

    code = "client_error"


class ServerUnavailableError(ClientError):
    """No server answered: nothing at the address after all reconnects, or a local server failed to start."""

    code = "server_unavailable"


class RequestTimeoutError(ClientError, TimeoutError):
    """A wait ran past its ``timeout_s`` (the request or job may still complete on the server)."""

    code = "timeout"


ERROR_CLASSES: dict[str, type[E2fgviError]] = {
    cls.code: cls
    for cls in (
        E2fgviError,
        CheckpointError,
        SequenceError,
        MissingFramesError,
        MatteError,
        ConfigError,
        DeviceError,
        OutputError,
        ProtocolError,
        JobCancelled,
        AccessDeniedError,
        UnknownJobError,
        KeyConflictError,
        TrainingError,
        ModelInputError,
        ClientError,
        ServerUnavailableError,
        RequestTimeoutError,
    )
}


def class_for_code(code: str) -> type[E2fgviError]:
    """The class whose ``code`` a peer sent (``E2fgviError`` for a code this version does not know)."""
    return ERROR_CLASSES.get(code, E2fgviError)
