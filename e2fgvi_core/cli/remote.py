"""``e2fgvi remove --server ADDRESS``: the same removal, run by an ``e2fgvi-server`` instead of this process.

Why a module of its own: ``remove.py`` imports it only when ``--server`` is given, so the in-process path never
loads ZeroMQ, and the remote path never loads torch. The output (progress bar, one-line summary, exit code, one-line
errors) is the same as in-process, so scripts do not care where the frames were computed.
"""

from __future__ import annotations

import os
import sys

from e2fgvi_core import errors
from e2fgvi_core.removal.api import Progress, RemovalRequest

PATH_KEYS = ("plate", "matte", "out", "weights")


def request_for_server(request: RemovalRequest) -> dict:
    """The request as a ``submit`` mapping, with paths made absolute (the server's working folder is not ours)."""
    mapping = {k: v for k, v in request.to_mapping().items() if v is not None}
    for key in PATH_KEYS:
        value = mapping.get(key)
        if isinstance(value, str) and (key != "weights" or os.path.exists(value)):
            mapping[key] = os.path.abspath(os.path.expanduser(value))
    return mapping


def error_from_remote(exc: Exception) -> errors.E2fgviError:
    """The E2fgviError subclass whose ``code`` the server sent, so the CLI prints and exits as in-process."""
    code = getattr(exc, "code", "")
    message = getattr(exc, "message", None) or str(exc)
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.E2fgviError) and value.code == code:
            return value(message)
    return errors.E2fgviError(f"{code}: {message}" if code else message)


REACH_TIMEOUT_S = 3.0
"""How long ``--server`` waits for the server's hello before saying it is not there (a busy server answers in ms)."""


def check_reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """One ``hello`` without retries: a server that is not there fails in seconds with one line, not after
    fifteen seconds of reconnect lines; the line names the command that starts one."""
    from e2fgvi_core.cli.status import ServerUnreachableError
    from host_plugin.client import Client, ClientError
    from server.protocol import RemoteError

    try:
        with Client(address, retries=0, heartbeat_interval_s=max(0.1, timeout_s / 3)) as client:
            client.hello(timeout_s=timeout_s)
    except (ClientError, RemoteError) as exc:
        raise ServerUnreachableError(
            f"no e2fgvi-server answered at {address} within {timeout_s:.0f} s ({exc}); start one with "
            f"`e2fgvi-server --bind {address}`"
        ) from None


def run_remote(request: RemovalRequest, address: str, quiet: bool = False, as_json: bool = False) -> int:
    """Submit ``request`` to the server at ``address``, draw progress, print the summary; return the exit code."""
    from e2fgvi_core.cli.remove import ProgressBar
    from host_plugin.client import Client, ClientError
    from server.protocol import RemoteError, WireError

    if request.out is None:
        raise errors.ConfigError(
            "--out is needed with --server: the server writes the frames (frames by value are for the client library)"
        )
    submitted = request_for_server(request)
    check_reachable(address)
    bar = ProgressBar(enabled=not quiet and sys.stderr is not None)

    def on_progress(fields: dict) -> None:
        bar(
            Progress(
                int(fields.get("frames_done", 0)),
                int(fields.get("frames_total", 0)),
                str(fields.get("stage", "")),
                float(fields.get("elapsed_s") or 0.0),
                fields.get("eta_s"),
            )
        )

    try:
        with Client(address) as client:
            handle = client.submit(submitted, on_progress=on_progress)
            try:
                result = handle.wait()
            except KeyboardInterrupt:
                handle.cancel()
                raise
            finally:
                bar.close()
    except (RemoteError, ClientError) as exc:
        raise error_from_remote(exc) from None
    except WireError as exc:
        raise errors.ProtocolError(f"{address}: {exc}") from None
    summary = result.summary
    from e2fgvi_core.cli.remove import cache_text

    for message in summary.get("warnings") or []:
        print(f"e2fgvi remove: warning: {message}", file=sys.stderr)
    frames = len(result.frames)
    seconds = float(summary.get("engine_seconds") or 0.0)
    rate = frames / seconds if seconds > 0 else 0.0
    cache = summary.get("cache") if isinstance(summary.get("cache"), dict) else {}
    words = cache_text(summary.get("engine"), cache.get("hits"), cache.get("misses"))
    variant = f" ({summary['variant']})" if summary.get("variant") else ""
    print(
        f"e2fgvi remove: wrote {frames} frames to {submitted['out']} in {seconds:.1f} s "
        f"({rate:.2f} frames/s) with {summary.get('engine')}{variant}; {summary.get('frames_passthrough', 0)} "
        f"passed through (empty matte); {words}; server {address}",
        file=sys.stderr,
    )
    if as_json:
        import json

        print(json.dumps({**summary, "frames": [int(f) for f in result.frames], "server": address}, sort_keys=True))
    return 0
