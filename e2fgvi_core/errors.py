"""The error tree of the project.

Every error a user can cause has its own class with a stable ``code``: the CLI prints the message on one line
and exits non-zero, and the server sends ``code`` and message in an ``error`` reply. Messages name the file,
frame or key at fault and, where there is a choice, list the valid alternatives.
"""

from __future__ import annotations


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
    """A message on the wire is malformed or of an unsupported protocol version."""

    code = "protocol_error"


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


class ModelInputError(E2fgviError, ValueError):
    """A tensor given to the generator has a shape the model variant cannot process."""

    code = "model_input_error"
