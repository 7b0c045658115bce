"""Real-component fixtures for the server tests: server processes on free loopback ports, small EXR shots.

Every server is a real ``python -m e2fgvi_server.main`` process; every wait has a timeout; every process is killed in
teardown whatever the test did.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from e2fgvi_host.client import Client, RequestTimeoutError

SERVER_START_TIMEOUT_S = 30.0
TOKEN = "test-token-123"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


class ServerProcess:
    """One ``e2fgvi-server`` process with its address, log file and a kill that always works."""

    def __init__(self, address: str, args: list[str], log_path: Path) -> None:
        self.address = address
        self.args = args
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self, wait: bool = True, client_kwargs: dict | None = None) -> ServerProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "e2fgvi_server.main", "--bind", self.address, *self.args],
                cwd=PROJECT_ROOT,
                env=subprocess_env(),
                stdout=log,
                stderr=log,
            )
        if wait:
            self.wait_ready(client_kwargs)
        return self

    def wait_ready(self, client_kwargs: dict | None = None) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        with Client(self.address, retries=1000, heartbeat_interval_s=0.2, **(client_kwargs or {})) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
                try:
                    client.hello(timeout_s=1.0)
                    return
                except RequestTimeoutError:
                    continue
        raise RuntimeError(
            f"server at {self.address} did not answer hello in {SERVER_START_TIMEOUT_S} s:\n{self.log()}"
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def wait_exit(self, timeout_s: float) -> int:
        return self.process.wait(timeout_s)


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
        args = ["--token", TOKEN, "--heartbeat-interval-s", "0.5", *extra]
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


def write_exr(path: Path, pixels: np.ndarray, fmt: str) -> None:
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, fmt)
    spec.channelnames = ("R", "G", "B")[:c] if c == 3 else ("Y",) if c == 1 else spec.channelnames
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels)), out.geterror()
    assert out.close()


def make_shot(
    folder: Path, frames: int = 8, size: tuple[int, int] = (48, 64), first: int = 1001, seed: int = 0
) -> dict[str, str]:
    """A small half-float plate with a moving red square and its matte; returns the patterns."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = np.random.default_rng(seed).uniform(0, 3)
    for i in range(frames):
        number = first + i
        plate = np.stack(
            [
                0.2 + 0.15 * np.sin(xx / 5 + i * 0.3 + phase),
                0.3 + 0.1 * np.cos(yy / 4 + phase),
                0.25 + 0.1 * np.sin((xx + yy) / 7),
            ],
            -1,
        ).astype(np.float32)
        matte = np.zeros((h, w, 1), np.float32)
        x0 = (w // 6 + 2 * i) % max(1, w - w // 4)
        matte[h // 3 : h // 3 + h // 4, x0 : x0 + w // 5] = 1.0
        plate[matte[..., 0] > 0] = (1.0, 0.0, 0.0)
        write_exr(folder / f"plate.{number:04d}.exr", plate.astype(np.float16), "half")
        write_exr(folder / f"matte.{number:04d}.exr", matte, "float")
    return {
        "plate": str(folder / "plate.%04d.exr"),
        "matte": str(folder / "matte.%04d.exr"),
        "frames": f"{first}-{first + frames - 1}",
    }


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
