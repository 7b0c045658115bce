"""Shared helpers of the test suites: synthetic shots, image writers, free ports, waiting, a real server process.

Why in the package rather than in ``tests/``: pytest runs in importlib mode, where test modules cannot import a
conftest, and the farm, host and installer tests (some of them run outside this checkout's ``tests/``) need the same
shots and the same server fixture. One copy here replaces the copies each test package used to keep. Importing this
module loads numpy only: OpenImageIO, OpenCV, ZeroMQ and the engine are imported by the helpers that need them, so a
host-side test can use it without torch.

Nothing here is a fake of our own components: ``ServerProcess`` is a real ``python -m e2fgvi_server.main`` process,
and the writers write real files.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # the checkout (tests run from one; editable install)
# The project's shared/ folder (parity data, footage): beside the checkout unless E2FGVI_SHARED_DIR says otherwise.
SHARED_DIR = Path(os.environ.get("E2FGVI_SHARED_DIR", PROJECT_ROOT.parent / "shared"))
SERVER_START_TIMEOUT_S = 30.0
TEST_TOKEN = "test-token-123"


# --- deterministic weights ----------------------------------------------------------------------------------
def load_fill_weights(shared: Path = SHARED_DIR) -> Callable[..., Any]:
    """The official deterministic weight fill, ``fill_weights(model, seed)``, from ``shared/parity/fill_weights.py``.

    Why loaded from the file and not copied: the parity goldens were made with exactly that function.
    """
    import importlib.util

    path = Path(shared) / "parity" / "fill_weights.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is absent: put the project's shared/ folder beside the checkout")
    spec = importlib.util.spec_from_file_location("fill_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fill_weights


def write_filled_checkpoint(path: Path, variant: str = "e2fgvi_hq", seed: int = 1, **model_options: Any) -> Path:
    """Save a ``variant`` generator filled by ``load_fill_weights()`` with ``seed``: the weights tests and
    benchmarks run with, since no official checkpoint can be downloaded here."""
    import torch

    from e2fgvi_core.models import build_generator

    model = build_generator(variant, **model_options)
    load_fill_weights()(model, seed)
    path = Path(path)
    torch.save(model.state_dict(), path)
    return path


# --- processes, ports, waiting ------------------------------------------------------------------------------
def subprocess_env(pythonpath: str | None = None, **extra: str) -> dict[str, str]:
    """The environment for a child Python: this checkout importable, one OpenMP thread, ``extra`` on top.

    ``pythonpath`` goes *before* the checkout (a test that puts a user's own modules first).
    """
    env = dict(os.environ)
    paths = [p for p in (pythonpath, str(PROJECT_ROOT), env.get("PYTHONPATH")) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def run_python(
    arguments: list[str], timeout_s: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python ARGUMENTS`` run in the checkout to the end (output as text), as a user would start our commands.

    ``env`` defaults to ``subprocess_env()``; the exit code is the caller's to check.
    """
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=PROJECT_ROOT,
        env=subprocess_env() if env is None else env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout_s,
    )


# Variables naming a user's own folders: a test's ``e2fgvi install`` (or anything writing per-user files) starts
# without them, so it can touch nothing but the temporary home it is given, whatever the machine has set.
PER_USER_FOLDER_VARIABLES = (
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "APPDATA",
    "LOCALAPPDATA",
    "USERPROFILE",
)


def run_e2fgvi(
    arguments: list[str], home: Path | str, env: dict[str, str] | None = None, timeout_s: float = 120.0
) -> subprocess.CompletedProcess:
    """``e2fgvi ARGUMENTS`` as a user whose home is ``home``: none of the real user's per-user folders inherited
    (``PER_USER_FOLDER_VARIABLES``), ``env`` on top (e.g. a test platform's own folder variables)."""
    base = {k: v for k, v in subprocess_env().items() if k not in PER_USER_FOLDER_VARIABLES}
    return run_python(["-m", "e2fgvi_core.cli.main", *arguments], timeout_s, {**base, "HOME": str(home), **(env or {})})


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_address() -> str:
    """``tcp://127.0.0.1:<free port>``."""
    return f"tcp://127.0.0.1:{free_port()}"


def wait_until(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout_s`` passed (False): every wait has a timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return bool(predicate())


class ServerProcess:
    """One real ``e2fgvi-server`` process with its address, log file and a kill that always works."""

    def __init__(self, address: str, args: list[str], log_path: Path) -> None:
        self.address = address
        self.args = args
        self.log_path = Path(log_path)
        self.process: subprocess.Popen | None = None

    def start(self, wait: bool = True, client_kwargs: dict | None = None) -> ServerProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "e2fgvi_server.main", "--bind", self.address, *self.args],
                cwd=PROJECT_ROOT,
                env=subprocess_env(E2FGVI_SERVER_TOKEN=TEST_TOKEN),  # by environment: argv is readable by all
                stdout=log,
                stderr=log,
            )
        if wait:
            self.wait_ready(client_kwargs)
        return self

    def wait_ready(self, client_kwargs: dict | None = None) -> None:
        """Until the server answers ``hello``; raises with its log when it exits or stays silent."""
        from e2fgvi_host.client import Client, RequestTimeoutError

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


# --- image files --------------------------------------------------------------------------------------------
def write_with_oiio(
    path: Path,
    pixels: np.ndarray,
    channels: tuple[str, ...] | None = None,
    file_format: str | None = None,
    attributes: dict | None = None,
    data_origin: tuple[int, int] = (0, 0),
    display_window: tuple[int, int, int, int] | None = None,
    channel_formats: tuple[str, ...] | None = None,
) -> Path:
    """Write an image with plain OpenImageIO (not our writer), so our reader is tested on files it did not make."""
    import OpenImageIO as oiio

    array = pixels if pixels.ndim == 3 else pixels[:, :, None]
    h, w, c = array.shape
    fmt = file_format or {"float16": "half", "float32": "float", "uint8": "uint8", "uint16": "uint16"}[str(array.dtype)]
    spec = oiio.ImageSpec(w, h, c, fmt)
    if channels:
        spec.channelnames = channels
    if channel_formats:
        spec.channelformats = tuple(oiio.TypeDesc(f) for f in channel_formats)
    spec.x, spec.y = data_origin
    if display_window:
        spec.full_x, spec.full_y, spec.full_width, spec.full_height = display_window
    if not str(path).endswith(".exr"):
        spec.attribute("oiio:UnassociatedAlpha", 1)  # store the given values, do not divide colour by alpha
    for key, value in (attributes or {}).items():
        spec.attribute(key, value)
    out = oiio.ImageOutput.create(str(path))
    if out is None:
        raise OSError(f"{path}: {oiio.geterror()}")
    if not (out.open(str(path), spec) and out.write_image(np.ascontiguousarray(array)) and out.close()):
        raise OSError(f"{path}: {out.geterror()}")
    return path


def write_exr(path: Path, pixels: np.ndarray, fmt: str) -> None:
    """An EXR with R,G,B (3 channels) or Y (1 channel) names, pixels stored as ``fmt`` ("half", "float")."""
    c = pixels.shape[2]
    channels = ("R", "G", "B") if c == 3 else ("Y",) if c == 1 else None
    write_with_oiio(path, pixels, channels=channels, file_format=fmt)


# --- synthetic shots ----------------------------------------------------------------------------------------
def make_shot(
    folder: Path, frames: int = 8, size: tuple[int, int] = (48, 64), first: int = 1001, seed: int = 0
) -> dict[str, str]:
    """A small half-float EXR plate with a moving red square and its float matte; returns the request keys
    (``plate``, ``matte`` patterns and the ``frames`` range)."""
    folder = Path(folder)
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


def make_synthetic_shot(
    length: int, height: int, width: int, seed: int = 0, box: int = 16, empty=()
) -> tuple[np.ndarray, np.ndarray]:
    """(frames uint8 (t, h, w, 3), mattes bool (t, h, w)): a panning texture with a moving square matte.

    Positions listed in ``empty`` get an empty matte.
    """
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, size=(height, width + 4 * length, 3), dtype=np.uint8)
    texture = (texture.astype(np.float32) * 0.5 + np.roll(texture, 1, axis=1).astype(np.float32) * 0.5).astype(np.uint8)
    frames = np.stack([texture[:, 2 * t : 2 * t + width] for t in range(length)])
    mattes = np.zeros((length, height, width), dtype=bool)
    for t in range(length):
        if t in empty:
            continue
        y = (height - box) // 2
        x = (3 * t) % max(1, width - box)
        mattes[t, y : y + box, x : x + box] = True
    return frames, mattes


def write_png_shot(folder: Path, frames: np.ndarray, mattes: np.ndarray, first: int = 1001) -> Path:
    """Write ``plate.%04d.png`` and ``matte.%04d.png`` (uint8) into ``folder`` with our writer; return it."""
    from e2fgvi_core.io import Frame, write_frame

    folder = Path(folder)
    for i, (frame, matte) in enumerate(zip(frames, mattes)):
        write_frame(folder / f"plate.{first + i:04d}.png", Frame.from_array(frame))
        write_frame(folder / f"matte.{first + i:04d}.png", Frame.from_array(matte.astype(np.uint8)))
    return folder


@dataclass
class PanningShot:
    """A textured background panning left by ``shift_px`` per frame behind a square that stays put in the frame.

    ``frames`` float32 (t, h, w, 3) in [0, 1] (the occluder painted in), ``holes`` bool (t, h, w) (its dilated
    matte), ``background`` the clean frames (ground truth), ``seen`` bool (t, h, w): hole pixels whose background
    point is visible (outside the hole) in at least one other frame within ``context`` frames.
    """

    frames: np.ndarray
    holes: np.ndarray
    background: np.ndarray
    seen: np.ndarray
    shift_px: int


def make_panning_shot(
    t: int = 13, h: int = 96, w: int = 128, shift_px: int = 3, context: int = 6, seed: int = 0
) -> PanningShot:
    """The panning shot with known hidden background the weight-free method is measured on."""
    import cv2

    rng = np.random.default_rng(seed)
    canvas_w = w + shift_px * (t - 1)
    noise = rng.random((h // 4 + 2, canvas_w // 4 + 2, 3)).astype(np.float32)
    canvas = cv2.resize(noise, (canvas_w + 8, h + 8), interpolation=cv2.INTER_CUBIC)[4 : 4 + h, 4 : 4 + canvas_w]
    canvas = np.clip(cv2.GaussianBlur(canvas, (0, 0), 1.0), 0.0, 1.0)
    background = np.stack([canvas[:, i * shift_px : i * shift_px + w] for i in range(t)])
    y0, x0, size = h // 2 - 14, w // 2 - 14, 28
    occluder = np.zeros((h, w), bool)
    occluder[y0 : y0 + size, x0 : x0 + size] = True
    hole = cv2.dilate(occluder.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    frames = background.copy()
    stripes = (np.indices((size, size)).sum(axis=0) % 6 < 3).astype(np.float32)
    for i in range(t):
        frames[i, y0 : y0 + size, x0 : x0 + size] = np.stack([stripes, 1 - stripes, 0.5 * stripes], axis=-1)
    holes = np.repeat(hole[None], t, axis=0)
    # Column c of frame i shows canvas column c + i * shift; it is seen if some frame j != i within the context
    # shows that canvas column outside the hole, one pixel clear of it (a bilinear sample must not touch the hole).
    hole_cols = np.nonzero(hole.any(axis=0))[0]
    near_hole = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    seen = np.zeros_like(holes)
    for i in range(t):
        for c in hole_cols:
            canvas_col = c + i * shift_px
            for j in range(max(0, i - context), min(t, i + context + 1)):
                col_j = canvas_col - j * shift_px
                if j != i and 0 <= col_j < w and not near_hole[:, col_j].any():
                    seen[i, :, c] = hole[:, c]
                    break
    return PanningShot(frames.astype(np.float32), holes, background.astype(np.float32), seen, shift_px)
