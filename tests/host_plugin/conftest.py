"""Fixtures of the host tests (built on ``e2fgvi_core.testing``): real servers, the stand-ins on ``sys.path``.

``server`` and ``shot`` are what the Nuke and Resolve/Fusion tests share (``tests/standins/host_test_support.py``);
the Blender and bridge tests keep module-scoped ones of their own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from e2fgvi_core.testing import free_address, subprocess_env

STANDINS = Path(__file__).resolve().parents[1] / "standins"
if str(STANDINS) not in sys.path:
    sys.path.insert(0, str(STANDINS))

import host_test_support  # found through STANDINS


@pytest.fixture
def server(tmp_path):
    """A real server whose outputs may go under ``tmp_path``."""
    running = host_test_support.start_server(tmp_path)
    yield running
    running.kill()


@pytest.fixture
def shot(tmp_path):
    """A small float EXR shot with its matte."""
    return host_test_support.make_float_shot(tmp_path / "shot")


@pytest.fixture
def address() -> str:
    return free_address()


@pytest.fixture
def server_env(tmp_path, monkeypatch):
    """Environment for servers started by the client: this checkout's server, outputs under tmp_path."""
    env = {
        "PYTHONPATH": subprocess_env()["PYTHONPATH"],
        "E2FGVI_SERVER_COMMAND": f"{sys.executable} -m e2fgvi_server.main --output-root {tmp_path}",
        "E2FGVI_SERVER_TOKEN": "tok",  # a secret goes by environment, never on the command line
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
