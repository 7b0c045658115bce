"""Fixtures for the client tests (built on ``e2fgvi_core.testing``): a real server on a free loopback port."""

from __future__ import annotations

import subprocess
import sys

import pytest

from e2fgvi_core.testing import free_address, subprocess_env


@pytest.fixture
def address() -> str:
    return free_address()


@pytest.fixture
def server_env(tmp_path, monkeypatch):
    """Environment for servers started by the client: this checkout's server, outputs under tmp_path."""
    env = {
        "PYTHONPATH": subprocess_env()["PYTHONPATH"],
        "E2FGVI_SERVER_COMMAND": f"{sys.executable} -m e2fgvi_server.main --output-root {tmp_path} --token tok",
        "E2FGVI_SERVER_HEARTBEAT_INTERVAL_S": "0.5",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def spawned():
    """Processes a test started; all killed at teardown."""
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(10)
