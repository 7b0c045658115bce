"""Fixtures for the client tests: a real server process on a free loopback port (killed at teardown)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def address() -> str:
    return f"tcp://127.0.0.1:{_free_port()}"


@pytest.fixture
def server_env(tmp_path, monkeypatch):
    """Environment for servers started by the client: this checkout's server, outputs under tmp_path."""
    env = {
        "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
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


def wait_until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
