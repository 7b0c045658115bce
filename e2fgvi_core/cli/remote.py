"""``e2fgvi remove --server ADDRESS``: the same removal, run by an ``e2fgvi-server`` instead of this process.

Why a module of its own: ``remove.py`` imports it only when ``--server`` is given, so the in-process path never
loads ZeroMQ, and the remote path never loads torch. The output (progress bar, one-line summary, exit code, one-line
errors) is ``cli/report.py``'s, as in-process, so scripts do not care where the frames were computed. The request
goes as flat keys (``RemovalRequest.to_mapping``): the server validates it, the client never parses it again.
"""

from __future__ import annotations

import os

from e2fgvi_core import errors
from e2fgvi_core.cli.report import (
    ProgressBar,
    engine_fields,
    print_engine_line,
    print_json,
    print_notice,
    print_summary,
    print_warnings,
    summary_json,
)
from e2fgvi_core.removal.request import Progress, RemovalRequest, RemovalSummary
from e2fgvi_core.schema import absolutise_paths

REMOTE_TIMEOUT_ENV = "E2FGVI_REMOTE_TIMEOUT_S"
DEFAULT_REMOTE_TIMEOUT_S = 24 * 3600.0  # a shot that takes longer is not waited for by one CLI run


def remote_timeout_s() -> float:
    """The overall bound on one ``remove --server`` wait (``E2FGVI_REMOTE_TIMEOUT_S``), so a CLI never hangs."""
    raw = os.environ.get(REMOTE_TIMEOUT_ENV, "")
    if not raw:
        return DEFAULT_REMOTE_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise errors.ConfigError(f"{REMOTE_TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    return value


def request_for_server(request: RemovalRequest) -> dict:
    """The request as a ``submit`` mapping, every path setting of the schema made absolute (the server's working
    folder is not ours), unset settings left out (the server's defaults are the same schema's)."""
    return absolutise_paths({k: v for k, v in request.to_mapping().items() if v is not None})


def error_from_remote(exc: errors.E2fgviError) -> errors.E2fgviError:
    """The class whose ``code`` the server (or the client library) raised, so the CLI prints and exits as
    in-process; looked up in the one table, ``errors.ERROR_CLASSES``."""
    code = exc.code
    message = getattr(exc, "message", None) or str(exc)
    if code in errors.ERROR_CLASSES:
        return errors.ERROR_CLASSES[code](message)
    return errors.E2fgviError(f"{code}: {message}")


REACH_TIMEOUT_S = 3.0
"""How long ``--server`` waits for the server's hello before saying it is not there (a busy server answers in ms)."""


def check_reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """One ``hello`` without retries: a server that is not there fails in seconds with one line, not after
    fifteen seconds of reconnect lines; the line names the command that starts one."""
    from e2fgvi_host.client import Client
    from e2fgvi_server.protocol import RemoteError

    try:
        with Client(address, retries=0, heartbeat_interval_s=max(0.1, timeout_s / 3)) as client:
            client.hello(timeout_s=timeout_s)
    except RemoteError as exc:  # a server answered (e.g. access_denied for another user): say what, not "none"
        raise errors.class_for_code(exc.code)(
            f"the e2fgvi-server at {address} refused this client: {exc.code}: {exc.message}"
        ) from None
    except errors.ClientError as exc:
        raise errors.ServerUnavailableError(
            f"no e2fgvi-server answered at {address} within {timeout_s:.0f} s ({exc}); start one with "
            f"`e2fgvi-server --bind {address}`"
        ) from None


def run_remote(request: RemovalRequest, address: str, quiet: bool = False, as_json: bool = False) -> int:
    """Submit ``request`` to the server at ``address``, draw progress, print the summary; return the exit code."""
    from e2fgvi_host.client import Client
    from e2fgvi_server.protocol import ProgressFields, RemoteError

    if request.out is None:
        raise errors.ConfigError(
            "--out is needed with --server: the server writes the frames (frames by value are for the client library)"
        )
    submitted = request_for_server(request)
    check_reachable(address)
    timeout_s = remote_timeout_s()
    bar = ProgressBar(enabled=not quiet)

    shown: list[str] = []
    handles: list = []  # the job's handle once submit returns: its `accepted` names the engine
    announced: list[bool] = []

    def announce() -> None:
        """The notice and the engine line, once: at the job's first progress report, which the server sends when
        every check has passed (a refused job prints its one error line alone), so before the first frame."""
        if announced or not handles or not handles[0].accepted:
            return
        announced.append(True)
        bar.interrupt()
        accepted = handles[0].accepted
        if accepted.get("notice"):  # the server's `auto` fell back: as the in-process run says it
            print_notice(str(accepted["notice"]))
        print_engine_line(engine_fields(accepted))  # engine, weights, precision

    def on_progress(fields: dict) -> None:
        if fields.get("warning"):  # the server sends each warning when it arises
            bar.interrupt()
            print_warnings([str(fields["warning"])])
            shown.append(str(fields["warning"]))
            return
        announce()
        sent = ProgressFields.from_fields(fields)
        bar(Progress(sent.frames_done, sent.frames_total, sent.stage, sent.elapsed_s, sent.eta_s))

    try:
        with Client(address) as client:
            handle = client.submit(submitted, on_progress=on_progress)
            handles.append(handle)
            try:
                result = handle.wait(timeout_s)
                announce()
            except (KeyboardInterrupt, errors.RequestTimeoutError):
                handle.cancel()
                raise
            finally:
                bar.close()
    except (RemoteError, errors.ClientError) as exc:
        raise error_from_remote(exc) from None
    except errors.ProtocolError as exc:
        raise errors.ProtocolError(f"{address}: {exc}") from None
    summary = RemovalSummary.from_mapping(result.summary)
    print_warnings([w for w in summary.warnings if w not in shown])
    print_summary(summary, submitted["out"], where=f"server {address}")
    if as_json:
        print_json(
            summary_json(
                summary,
                submitted["out"],
                server=address,
                server_seconds=result.summary.get("server_seconds"),
                **engine_fields(handles[0].accepted),
            )
        )
    return 0
