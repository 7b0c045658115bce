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


COMMANDS_FILE = "e2fgvi_commands.json"  # written by ``e2fgvi install HOST`` into the plug-in's ``_vendor`` folder
SERVER_PROGRAM = "e2fgvi-server"
CLI_PROGRAM = "e2fgvi"
_MODULES = {SERVER_PROGRAM: "e2fgvi_server.main", CLI_PROGRAM: "e2fgvi_core.cli.main"}


class CommandGoneError(ServerUnavailableError):
    """The command the installer recorded is not there any more (the environment was moved or removed)."""


def server_command() -> list[str]:
    """How to start a server: ``$E2FGVI_SERVER_COMMAND``, else the installer's recorded command (in a plug-in),
    else (in our own environment) ``e2fgvi-server`` beside this Python or on PATH."""
    return _command("E2FGVI_SERVER_COMMAND", SERVER_PROGRAM)


def cli_command() -> list[str]:
    """How to run ``e2fgvi`` from a host: ``$E2FGVI_CLI_COMMAND``, else the installer's recorded command, else
    (in our own environment) ``e2fgvi`` beside this Python or on PATH.

    Why a command and not an import: host Pythons cannot load torch, so a host runs the CLI as a subprocess.
    """
    return _command("E2FGVI_CLI_COMMAND", CLI_PROGRAM)


def installation_commands() -> dict[str, list[str]]:
    """The absolute commands of this installation's ``e2fgvi`` and ``e2fgvi-server``: what an installer records.

    Run in our own environment (the installer's): the scripts beside this Python (a venv's or pipx's ``bin``),
    else on PATH, else this Python with ``-m``. Never resolved through links: a venv's python is a link whose target
    does not know the venv.
    """
    return {program: _own_command(program) for program in _MODULES}


def recorded_commands_file() -> str | None:
    """``_vendor/e2fgvi_commands.json`` when this module runs vendored into a plug-in; None in our own package."""
    vendor = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(vendor, COMMANDS_FILE) if os.path.basename(vendor) == "_vendor" else None


def _command(variable: str, program: str) -> list[str]:
    configured = os.environ.get(variable)
    if configured:
        return shlex.split(configured)
    recorded = recorded_commands_file()
    if recorded is None:
        return _own_command(program)
    # inside a host: sys.executable is Nuke's, Blender's or Resolve's binary, never a way to run our programs
    import json

    try:
        with open(recorded, encoding="utf-8") as handle:
            data = json.load(handle)
        command, host = [str(part) for part in data["commands"][program]], str(data.get("host", "HOST"))
    except (OSError, ValueError, KeyError, TypeError):
        raise CommandGoneError(
            f"no {program} command recorded in {recorded}: re-run `e2fgvi install` for this host (or set ${variable})"
        ) from None
    if not command or not (os.path.isfile(command[0]) and os.access(command[0], os.X_OK)):
        raise CommandGoneError(
            f"{program} recorded by the installer ({command[0] if command else 'nothing'}) is gone: "
            f"re-run `e2fgvi install {host}` from the environment where e2fgvi is installed"
        )
    return command


def _own_command(program: str) -> list[str]:
    scripts = os.path.dirname(os.path.abspath(sys.executable))
    for name in (program, program + ".exe"):
        beside = os.path.join(scripts, name)
        if os.path.isfile(beside) and os.access(beside, os.X_OK):
            return [beside]
    found = shutil.which(program)
    return [os.path.abspath(found)] if found else [os.path.abspath(sys.executable), "-m", _MODULES[program]]


def run_cli(arguments: list[str], timeout_s: float = 600.0) -> subprocess.CompletedProcess:
    """Run ``e2fgvi ARGUMENTS`` to the end and return it (stdout and stderr as text); never raises for its exit code.

    A command that cannot start or runs past ``timeout_s`` comes back as exit code 2 with one line on stderr, the
    CLI's own convention for an error, so a caller handles every failure the same way.
    """
    try:
        command = cli_command() + list(arguments)
    except CommandGoneError as exc:
        return subprocess.CompletedProcess(list(arguments), 2, "", str(exc))
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
    environment: dict[str, str] | None = None,
) -> subprocess.Popen | None:
    """Make sure a server answers on a local ``address``; start one (detached) if none does, wait for ``hello``.

    ``environment`` is added to this process's environment for the server: the way to hand it a secret (such as
    ``E2FGVI_SERVER_TOKEN``), which on its command line every local user could read in ``/proc/PID/cmdline``.
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
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            env={**os.environ, **environment} if environment else None,
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
