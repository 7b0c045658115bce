"""What the OpenFX tests share: where the built plug-in lies, how to build it, the shot's numbers, the reference run.

Imported by name (``tests/ofx`` is put on ``sys.path`` by its conftest), like the other host tests' stand-ins.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.testing import PROJECT_ROOT, subprocess_env

BUNDLE = PROJECT_ROOT / "build" / "ofx" / "RemoveObject.ofx.bundle"
BINARY = BUNDLE / "Contents" / "Linux-x86-64" / "RemoveObject.ofx"
FIRST, COUNT = 1001, 12
SHOT = f"{FIRST}-{FIRST + COUNT - 1}"


def build_plugin() -> Path:
    """``make ofx`` builds it before the tests; a test run on its own builds it here (same CMake commands)."""
    if not shutil.which("cmake"):
        pytest.fail("cmake is missing: the OpenFX plug-in cannot be built (make ofx prints the apt-get line)")
    build = PROJECT_ROOT / "build" / "ofx"
    for command in (
        [
            "cmake",
            "-S",
            str(PROJECT_ROOT / "host_plugin" / "ofx"),
            "-B",
            str(build),
            f"-DPython_EXECUTABLE={sys.executable}",
        ],
        ["cmake", "--build", str(build), "-j2"],
    ):
        done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return BINARY


def whole_run(folder: Path, *flags: str, plate: str = "plate.%04d.exr", matte: str | None = "matte.%04d.exr",
              out: str = "whole.%04d.exr", engine: str = "propagate") -> dict[int, np.ndarray]:  # fmt: skip
    """``e2fgvi remove`` over the whole shot (propagate): the reference every host render must equal bit for bit."""
    command = [sys.executable, "-m", "e2fgvi_core.cli.main", "remove", "--plate", str(folder / plate),
               "--out", str(folder / out), "--frames", SHOT, "--engine", engine, "--quiet", *flags]  # fmt: skip
    if matte:
        command += ["--matte", str(folder / matte)]
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    return {f: read_frame(folder / (out.replace("%04d", f"{f:04d}"))).pixels for f in range(FIRST, FIRST + COUNT)}


def frames_of(folder: Path, pattern: str):
    """A host clip's frame source: the file's pixels (top row first), read once each."""
    cache: dict[int, np.ndarray] = {}

    def fetch(frame: int) -> np.ndarray:
        if frame not in cache:
            cache[frame] = read_frame(folder / pattern.replace("%04d", f"{frame:04d}")).pixels
        return cache[frame]

    return fetch
