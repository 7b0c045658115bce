"""The worker session's server: its shutdown token never shows on a command line, and stopping it needs the token
and the access key (a token leaked alone does not stop it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from e2fgvi_core.processes import process_alive
from e2fgvi_core.testing import run_python, subprocess_env, wait_until
from e2fgvi_host.client import Client
from e2fgvi_server import protocol as wire


def _farm(arguments: list[str]) -> str:
    env = subprocess_env(E2FGVI_SERVER_COMMAND=f"{sys.executable} -m e2fgvi_server.main")
    done = run_python(["-m", "e2fgvi_core.cli.main", "farm", *arguments], timeout_s=180, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_the_session_servers_token_is_in_no_command_line_and_a_stranger_cannot_stop_it(tmp_path):
    state = tmp_path / "e2fgvi-server.json"  # in the session's working directory
    started = _farm(["session-start", "--state", str(state), "--out", str(tmp_path / "out" / "r.%04d.exr")])
    saved = json.loads(state.read_text())
    assert f"openjd_env: E2FGVI_FARM_SERVER={saved['address']}" in started
    pid, token = saved["pid"], saved["token"]
    try:
        assert state.stat().st_mode & 0o077 == 0  # the state file holding the token is the user's alone
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        assert "e2fgvi_server" in command_line and token not in command_line and "--token" not in command_line
        with (
            Client(saved["address"], access_key="not-this-users-key") as stranger,
            pytest.raises(wire.RemoteError) as refused,
        ):
            stranger.shutdown(token, timeout_s=30)
        assert refused.value.code == wire.ACCESS_DENIED
        assert process_alive(pid)
    finally:
        stopped = _farm(["session-stop", "--state", str(state)])
    assert f"stopped the session server pid {pid}" in stopped
    assert wait_until(lambda: not process_alive(pid), timeout_s=60)
    assert "event=shutdown_requested" in Path(saved["log"]).read_text()  # by message, not by signal
