"""Fixtures of the CLI tests: `python -m e2fgvi_core.cli.main` as a real subprocess, an isolated weights store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from e2fgvi_core.testing import PROJECT_ROOT, subprocess_env, write_png_shot


@pytest.fixture
def run_cli(tmp_path):
    """``run_cli(*args, timeout=...) -> CompletedProcess`` with an empty weights store unless one is given."""
    store = tmp_path / "empty-weights-store"

    def run(*args: str, timeout: float = 600, env: dict | None = None) -> subprocess.CompletedProcess:
        full_env = subprocess_env(E2FGVI_WEIGHTS_DIR=str(store), **(env or {}))
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

    def write(frames: np.ndarray, mattes: np.ndarray, first: int = 1001) -> Path:
        return write_png_shot(tmp_path / "shot", frames, mattes, first)

    return write
