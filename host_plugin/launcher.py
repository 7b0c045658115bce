"""Start an ``e2fgvi-server`` on this machine when none answers: what a host plug-in calls before its first submit.

Why apart from the client: talking to a server and starting one are different jobs; a farm node or a remote
workstation only ever talks, and only this module spawns processes. Like the client it imports nothing of ours but
``e2fgvi_server.protocol`` (and ``e2fgvi_core.errors`` through it), so it loads in a host's Python without torch.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time

from e2fgvi_host.client import Client
from e2fgvi_server import protocol as wire
from e2fgvi_server.protocol import ClientError, RequestTimeoutError, ServerUnavailableError

LOCAL_SERVER_START_TIMEOUT_S = 120.0


def server_command() -> list[str]:
    """How to start a server: ``$E2FGVI_SERVER_COMMAND``, else ``e2fgvi-server`` on PATH, else this Python."""
    return _command("E2FGVI_SERVER_COMMAND", "e2fgvi-server", "e2fgvi_server.main")


def cli_command() -> list[str]:
    """How to run ``e2fgvi`` from a host: ``$E2FGVI_CLI_COMMAND``, else ``e2fgvi`` on PATH, else this Python.

    Why a command and not an import: host Pythons cannot load torch, so a host runs the CLI as a subprocess.
    """
    return _command("E2FGVI_CLI_COMMAND", "e2fgvi", "e2fgvi_core.cli.main")


def _command(variable: str, program: str, module: str) -> list[str]:
    configured = os.environ.get(variable)
    if configured:
        return shlex.split(configured)
    found = shutil.which(program)
    return [found] if found else [sys.executable, "-m", module]


def run_cli(arguments: list[str], timeout_s: float = 600.0) -> subprocess.CompletedProcess:
    """Run ``e2fgvi ARGUMENTS`` to the end and return it (stdout and stderr as text); never raises for its exit code.

    A command that cannot start or runs past ``timeout_s`` comes back as exit code 2 with one line on stderr, the
    CLI's own convention for an error, so a caller handles every failure the same way.
    """
    command = cli_command() + list(arguments)
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except OSError as exc:
        return subprocess.CompletedProcess(command, 2, "", f"cannot run {command[0]}: {exc.strerror or exc}")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, 2, "", f"{command[0]} did not finish in {timeout_s:.0f} s")


def ensure_local_server(
    address: str = wire.DEFAULT_ADDRESS,
    *,
    timeout_s: float = LOCAL_SERVER_START_TIMEOUT_S,
    extra_args: tuple[str, ...] = (),
    log_path: str | None = None,
) -> subprocess.Popen | None:
    """Make sure a server answers on a local ``address``; start one (detached) if none does, wait for ``hello``.

    Returns the started process, or None when a server was already answering.
    """
    if not wire.is_loopback_endpoint(address):
        raise ClientError(f"ensure_local_server starts servers on this machine only, not at {address}")
    with Client(address, retries=0, heartbeat_interval_s=0.25, heartbeat_liveness=2) as probe:
        try:
            probe.hello(timeout_s=1.0)
            return None
        except (RequestTimeoutError, ServerUnavailableError):
            pass
    # in this user's private temp folder: a predictable name in the shared temp dir could be a planted link
    log_path = log_path or os.path.join(
        wire.ensure_private_folder(wire.private_temp_root()), f"server-{os.getpid()}.log"
    )
    command = [*server_command(), "--bind", address, *extra_args]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True
        )
    deadline = time.monotonic() + timeout_s
    with Client(address, retries=1000, heartbeat_interval_s=0.5) as probe:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerUnavailableError(
                    f"{' '.join(command)} exited with code {process.returncode}; see {log_path}"
                )
            try:
                probe.hello(timeout_s=min(2.0, max(0.1, deadline - time.monotonic())))
                return process
            except RequestTimeoutError:
                continue
    process.terminate()
    raise ServerUnavailableError(f"{' '.join(command)} did not answer hello within {timeout_s} s; see {log_path}")
