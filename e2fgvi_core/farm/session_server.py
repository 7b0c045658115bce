"""The worker session's ``e2fgvi-server``: started when an OpenJD session enters the step environment, stopped
when it leaves.

Why: loading the model and computing a shot's features and flows dominate a chunk; one server per worker session
keeps both for every chunk that worker runs. The start action prints ``openjd_env: E2FGVI_FARM_SERVER=ADDRESS``,
which OpenJD turns into an environment variable of the session's later actions, so ``render-chunk`` finds the
server; a state file in the session's working directory (mode 0600) keeps the address, pid and shutdown token for
the stop action. The token reaches the server through its environment (``E2FGVI_SERVER_TOKEN``), never its command
line, which every local user can read in ``/proc/PID/cmdline``. When no server can be started the tasks still run,
standalone, with the same bytes.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from e2fgvi_core.atomic_files import write_text_atomic
from e2fgvi_core.errors import ConfigError
from e2fgvi_core.farm.render_chunk import SERVER_ENV
from e2fgvi_core.processes import process_alive

STOP_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0
TOKEN_ENV = "E2FGVI_SERVER_TOKEN"  # read by ``e2fgvi-server`` (ServerConfig.from_env)


@dataclass(frozen=True)
class SessionServer:
    """A started server: where it listens, its process id, its shutdown token, its log file."""

    address: str
    pid: int
    token: str
    log: str

    def save(self, state: Path) -> None:
        write_text_atomic(state, json.dumps(self.__dict__))

    @classmethod
    def load(cls, state: Path) -> SessionServer | None:
        if not state.is_file():
            return None
        try:
            return cls(**json.loads(state.read_text()))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"session state {state} is not a session server's state file: {exc}") from None


def _free_loopback_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"


def start_session_server(state: Path, out: str, device: str | None = None) -> SessionServer:
    """Start a loopback ``e2fgvi-server`` allowed to write under the folder of ``out``; wait until it answers."""
    from e2fgvi_host.launcher import ensure_local_server

    address = _free_loopback_address()
    token = secrets.token_hex(16)
    output_root = os.path.dirname(os.path.abspath(os.path.expanduser(out)))
    os.makedirs(output_root, exist_ok=True)
    args = ("--output-root", output_root)
    if device:
        args += ("--device", device)
    log = str(state.with_suffix(".log"))
    process = ensure_local_server(
        address, timeout_s=START_TIMEOUT_S, extra_args=args, log_path=log, environment={TOKEN_ENV: token}
    )
    if process is None:
        raise ConfigError(f"another server already answers at {address}")
    server = SessionServer(address, process.pid, token, log)
    server.save(state)
    return server


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.1)
    return not process_alive(pid)


def stop_session_server(state: Path) -> SessionServer | None:
    """Shut down the server recorded in ``state`` (``shutdown`` message, then SIGTERM, then SIGKILL by pid)."""
    from e2fgvi_core.errors import ClientError
    from e2fgvi_host.client import Client

    server = SessionServer.load(state)
    if server is None:
        return None
    try:
        with Client(server.address, retries=1) as client:
            client.shutdown(server.token, timeout_s=5.0)
    except (ClientError, OSError):
        pass
    if not _wait_gone(server.pid, STOP_TIMEOUT_S):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(server.pid, sig)
            except ProcessLookupError:
                break
            if _wait_gone(server.pid, 5.0):
                break
    state.unlink(missing_ok=True)
    return server


def openjd_env_line(server: SessionServer) -> str:
    """The stdout line that makes OpenJD set ``E2FGVI_FARM_SERVER`` for the session's later actions."""
    return f"openjd_env: {SERVER_ENV}={server.address}"
