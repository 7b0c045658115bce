"""The bridge's errors: each carries the server's ``code`` and a ``message`` an artist reads (one plain line)."""

from __future__ import annotations

from e2fgvi_core.errors import E2fgviError, RequestTimeoutError, ServerUnavailableError

from ..client import wire


class BridgeError(E2fgviError):
    """A failure as an artist should read it: ``message`` is one plain line; ``code`` is the server's code."""

    def __init__(self, code: str, message: str) -> None:
        message = " ".join(str(message).split())
        super().__init__(message)
        self.code = code
        self.message = message


class ParamsError(BridgeError):
    """A parameter value a host gave is not valid; the message names the parameter and the valid values."""

    def __init__(self, message: str) -> None:
        super().__init__(wire.CONFIG_ERROR, message)


class BridgeCancelled(BridgeError):
    """The job was cancelled (``cancel()`` or the host's Esc); nothing was added to the cache."""

    def __init__(self, message: str = "Remove Object was cancelled") -> None:
        super().__init__(wire.CANCELLED, message)


# What an artist reads for each server error code; the server's own line (file, frame, key) follows.
_ARTIST_PREFIX = {
    wire.MISSING_FRAMES: "Some input frames are missing",
    wire.SEQUENCE_ERROR: "An input frame could not be read",
    wire.MATTE_ERROR: "The matte cannot be used",
    wire.CONFIG_ERROR: "A Remove Object setting is not valid",
    wire.CHECKPOINT_ERROR: "The model weights cannot be used",
    wire.DEVICE_ERROR: "The server's GPU/CPU could not run the job",
    wire.OUTPUT_ERROR: "The result could not be written",
    wire.ACCESS_DENIED: "The server refused the request",
    wire.PROTOCOL_ERROR: "The server speaks another version of the protocol",
    wire.INTERNAL_ERROR: "The server hit an internal error (see its log)",
    ServerUnavailableError.code: "No Remove Object server answers",
    RequestTimeoutError.code: "The Remove Object server did not answer in time",
}


def artist_message(code: str, detail: str) -> str:
    """One line an artist understands: a plain sentence for the code, then the server's own detail."""
    detail = " ".join(str(detail).split())
    prefix = _ARTIST_PREFIX.get(code, "Remove Object failed")
    return f"{prefix}: {detail}" if detail else prefix
