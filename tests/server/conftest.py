"""Real-component fixtures for the server tests (built on ``e2fgvi_core.testing``): server processes on free
loopback ports, small EXR shots.

Every server is a real ``python -m e2fgvi_server.main`` process; every wait has a timeout; every process is killed in
teardown whatever the test did.
"""

from __future__ import annotations

import pytest

from e2fgvi_core.testing import (
    PROJECT_ROOT,
    TEST_TOKEN,
    ServerProcess,
    free_port,
    make_shot,
    subprocess_env,
)
from e2fgvi_host.client import Client

TOKEN = TEST_TOKEN


@pytest.fixture
def server_factory(tmp_path):
    """``server_factory(*extra_args, address=None, start=True)`` -> ServerProcess; all are killed at teardown."""
    started: list[ServerProcess] = []
    roots = tmp_path / "roots"
    roots.mkdir()

    def make(
        *extra: str,
        address: str | None = None,
        start: bool = True,
        roots_args: bool = True,
        client_kwargs: dict | None = None,
    ) -> ServerProcess:
        address = address or f"tcp://127.0.0.1:{free_port()}"
        args = ["--heartbeat-interval-s", "0.5", *extra]  # the token: E2FGVI_SERVER_TOKEN (ServerProcess)
        if roots_args:
            args += ["--output-root", str(roots)]
        server = ServerProcess(address, args, tmp_path / f"server-{len(started)}.log")
        started.append(server)
        if start:
            server.start(client_kwargs=client_kwargs)
        return server

    make.roots = roots
    yield make
    for server in started:
        server.kill()


@pytest.fixture
def server(server_factory):
    return server_factory()


@pytest.fixture
def client(server):
    with Client(server.address, heartbeat_interval_s=0.5) as c:
        yield c


@pytest.fixture
def shot(server_factory):
    """An 8-frame 64x48 shot inside the server's output roots (outputs go beside it)."""
    return make_shot(server_factory.roots / "shot")


@pytest.fixture(scope="session")
def shot_maker():
    return make_shot


@pytest.fixture(scope="session")
def support():
    """Helpers for test modules (with --import-mode=importlib they cannot import this conftest)."""
    import types

    return types.SimpleNamespace(
        PROJECT_ROOT=PROJECT_ROOT,
        TOKEN=TOKEN,
        subprocess_env=subprocess_env,
        make_shot=make_shot,
        free_port=free_port,
        ServerProcess=ServerProcess,
    )
