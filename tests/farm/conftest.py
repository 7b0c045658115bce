"""Fixtures of the farm tests: a small EXR shot on disk, an isolated weights store with a deterministic E2FGVI-HQ
checkpoint, and real subprocesses (``e2fgvi`` on PATH for the ``openjd`` runner, which runs it by name)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHOT_FIRST = 1001
SHOT_LENGTH = 37  # with chunk 10: 10/9/9/9 (TASK_CHUNKING) or 10/10/10/7 (fallback)
HEIGHT, WIDTH = 60, 108  # one E2FGVI-HQ padding unit: the model runs at its smallest size
HQ_SEED = 1


@pytest.fixture(scope="session")
def farm_shot(tmp_path_factory) -> dict[str, str]:
    """The 37-frame shot of every farm test (``plate``, ``matte``, ``frames``; written once, outputs go elsewhere)."""
    from e2fgvi_core.testing import make_shot

    return make_shot(tmp_path_factory.mktemp("farm-shot"), frames=SHOT_LENGTH, size=(HEIGHT, WIDTH), first=SHOT_FIRST)


@pytest.fixture(scope="session")
def weights_store(filled_checkpoint, tmp_path_factory) -> Path:
    """A weights store holding one deterministic E2FGVI-HQ checkpoint named ``hq-test`` (``E2FGVI_WEIGHTS_DIR``)."""
    from e2fgvi_core.weights import add_weights

    store = tmp_path_factory.mktemp("weights-store")
    checkpoint = filled_checkpoint(tmp_path_factory.mktemp("checkpoint") / "e2fgvi_hq_seed1.pth", seed=HQ_SEED)
    saved = os.environ.get("E2FGVI_WEIGHTS_DIR")
    os.environ["E2FGVI_WEIGHTS_DIR"] = str(store)
    try:
        add_weights(checkpoint, name="hq-test")
    finally:
        if saved is None:
            os.environ.pop("E2FGVI_WEIGHTS_DIR")
        else:
            os.environ["E2FGVI_WEIGHTS_DIR"] = saved
    return store


@pytest.fixture
def use_store(weights_store, monkeypatch) -> Path:
    """Point this process and its subprocesses at the test weights store."""
    monkeypatch.setenv("E2FGVI_WEIGHTS_DIR", str(weights_store))
    return weights_store


@pytest.fixture(scope="session")
def e2fgvi_bin(tmp_path_factory) -> Path:
    """A folder with an ``e2fgvi`` launcher for this checkout's Python, as an installed worker has on PATH."""
    folder = tmp_path_factory.mktemp("bin")
    launcher = folder / "e2fgvi"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m e2fgvi_core.cli.main "$@"\n')
    launcher.chmod(0o755)
    return folder


@pytest.fixture
def farm_env(e2fgvi_bin, tmp_path) -> dict[str, str]:
    """Environment of farm subprocesses: ``e2fgvi`` on PATH, this checkout importable, one thread per op pool."""
    env = dict(os.environ)
    env["PATH"] = f"{e2fgvi_bin}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{PROJECT_ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env["TMPDIR"] = str(tmp_path)
    env.pop("E2FGVI_FARM_SERVER", None)
    return env


def run(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def e2fgvi(farm_env):
    """``e2fgvi(*args) -> CompletedProcess``: the real CLI in a subprocess."""

    def call(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "e2fgvi_core.cli.main", *args], farm_env, timeout)

    return call


@pytest.fixture
def openjd(farm_env):
    """``openjd(*args) -> CompletedProcess``: the real Open Job Description CLI (``openjd check``, ``openjd run``)."""
    pytest.importorskip("openjd.cli", reason="the farm extra (openjd-cli) is not installed")

    def call(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "openjd", *args], farm_env, timeout)

    return call


@pytest.fixture(scope="session")
def pixels():
    """``pixels(pattern, frames)``: the ``read_pixels`` function (test modules are imported in importlib mode)."""
    return read_pixels


def read_pixels(pattern: str, frames) -> dict[int, tuple]:
    """Raw pixel bytes (with dtype and shape) of each frame, for bit-for-bit comparisons."""
    from e2fgvi_core.io import read_frame
    from e2fgvi_core.io.sequence import FrameSequence

    sequence = FrameSequence(pattern)
    out = {}
    for frame in frames:
        pixels = read_frame(sequence.path(frame)).pixels
        out[frame] = (pixels.dtype.str, pixels.shape, pixels.tobytes())
    return out
