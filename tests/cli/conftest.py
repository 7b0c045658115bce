"""Fixtures of the CLI tests: run `python -m e2fgvi_core.cli.main` as a real subprocess with an isolated weights store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_cli(tmp_path):
    """``run_cli(*args, timeout=...) -> CompletedProcess`` with an empty weights store unless one is given."""
    store = tmp_path / "empty-weights-store"

    def run(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
        full_env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), E2FGVI_WEIGHTS_DIR=str(store))
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "e2fgvi_core.cli.main", *args],
            check=False,
            cwd=PROJECT_ROOT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def png_shot(tmp_path):
    """``png_shot(frames, mattes, first=1001) -> folder`` writing plate.%04d.png and matte.%04d.png."""
    from e2fgvi_core.io import Frame, write_frame

    def write(frames: np.ndarray, mattes: np.ndarray, first: int = 1001) -> Path:
        folder = tmp_path / "shot"
        for i, (frame, matte) in enumerate(zip(frames, mattes)):
            write_frame(folder / f"plate.{first + i:04d}.png", Frame.from_array(frame))
            write_frame(folder / f"matte.{first + i:04d}.png", Frame.from_array(matte.astype(np.uint8)))
        return folder

    return write
