"""Shared helpers of the Nuke and Resolve tests: a real ``e2fgvi-server`` process, a small float EXR shot, the
reference ``e2fgvi remove`` run, and EXR reading (real OpenImageIO files everywhere)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVER_MODULE = "server.main"
SERVER_START_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(PROJECT_ROOT) + os.pathsep + out.get("PYTHONPATH", "")
    out.setdefault("OMP_NUM_THREADS", "1")
    return out


class Server:
    """A real server process on a free loopback port, writing under ``root``; ``stop()`` always kills it."""

    def __init__(self, root: Path) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.log = root / "server.log"
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, "--bind", self.address, "--output-root", str(root),
                 "--token", "tok", "--heartbeat-interval-s", "0.5"],
                cwd=PROJECT_ROOT, env=env(), stdout=log, stderr=log,
            )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        host, port = self.address[len("tcp://") :].rsplit(":", 1)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text(errors='replace')}")
            try:
                with socket.create_connection((host, int(port)), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not listen within {SERVER_START_TIMEOUT_S} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def write_exr(path: Path, pixels: np.ndarray, channels: tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, oiio.FLOAT)
    spec.channelnames = channels
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    assert out.write_image(np.ascontiguousarray(pixels, np.float32)), out.geterror()
    out.close()


def read_exr(path: str | Path) -> np.ndarray:
    buf = oiio.ImageBuf(str(path))
    assert not buf.has_error, buf.geterror()
    return buf.get_pixels(oiio.FLOAT)


def make_float_shot(folder: Path, frames: int = 6, size: tuple[int, int] = (40, 56), first: int = 1001) -> dict:
    """A float32 RGBA plate (a textured background, a red square moving over it) and its one-channel matte."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for i in range(frames):
        plate = np.stack(
            [
                0.25 + 0.2 * np.sin(xx / 4 + i * 0.4),
                0.3 + 0.15 * np.cos(yy / 3 + i * 0.1),
                0.2 + 0.1 * np.sin((xx + yy) / 6),
                np.ones_like(xx),
            ],
            -1,
        ).astype(np.float32)
        matte = np.zeros((h, w, 1), np.float32)
        x0 = 6 + 3 * i
        matte[12:24, x0 : x0 + 10] = 1.0
        plate[matte[..., 0] > 0, :3] = (1.0, 0.0, 0.0)
        write_exr(folder / f"plate.{first + i:04d}.exr", plate, ("R", "G", "B", "A"))
        write_exr(folder / f"matte.{first + i:04d}.exr", matte, ("A",))
    return {
        "plate": str(folder / "plate.%04d.exr"),
        "matte": str(folder / "matte.%04d.exr"),
        "first": first,
        "last": first + frames - 1,
    }


def cli_remove(*args: str) -> subprocess.CompletedProcess:
    """``e2fgvi remove ARGS`` in a fresh interpreter (the reference every host result is compared with)."""
    return subprocess.run(
        [sys.executable, "-m", "e2fgvi_core.cli.main", "remove", *args, "--quiet"],
        check=False, cwd=PROJECT_ROOT, env=env(), capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip


def cli_command() -> str:
    """How a host runs the ``e2fgvi`` command of this checkout (what the installer writes into the Fuse)."""
    return f"{sys.executable} -m e2fgvi_core.cli.main"
