"""Streaming: peak memory of a 200-frame shot stays within a small margin of a 40-frame shot of the same size.

Each run is its own process (``ru_maxrss`` of that process), reading real PNG files and writing real outputs.
Holding the shot would cost about 2 MB per 360x640 frame (pixels, display copy, mattes): 160 more frames = 330 MB.

The bound applies to a fixed window: the weight-free engine's windows (``context_frames`` each side), or for the
model a fixed ``--num-ref``; with ``num_ref=-1`` the official protocol itself makes every window read T/ref_step
references, so its window grows with the shot (docs/engine.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from e2fgvi_core.io import Frame, write_frame

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MARGIN_BYTES = 48 << 20

_CHILD = """
import json, resource, sys
from e2fgvi_core.engine.api import RemovalRequest, run_removal
request = RemovalRequest.from_mapping(json.loads(sys.argv[1]))
summary = run_removal(request)
print(json.dumps({"frames": len(summary.frames), "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _write_shot(folder: Path, length: int, height: int, width: int) -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, size=(height // 8, (width + 2 * length) // 8, 3), dtype=np.uint8)
    texture = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))
    for t in range(length):
        frame = np.ascontiguousarray(texture[:height, 2 * t : 2 * t + width])
        matte = np.zeros((height, width), dtype=np.uint8)
        x = 40 + 2 * t  # no wrap-around: every window crops the same size
        matte[150:180, x : x + 30] = 255
        write_frame(folder / f"plate.{t + 1:04d}.png", Frame.from_array(frame))
        write_frame(folder / f"matte.{t + 1:04d}.png", Frame.from_array(matte))


def _peak(folder: Path, frames: str) -> int:
    request = {
        "plate": str(folder / "plate.%04d.png"),
        "matte": str(folder / "matte.%04d.png"),
        "out": str(folder / f"out{frames}" / "clean.%04d.png"),
        "frames": frames,
        "engine": "propagate",
    }
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(request)],
        check=False,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["frames"] == int(frames.split("-")[1]) - int(frames.split("-")[0]) + 1
    return result["maxrss_kb"] * 1024


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_shot_length(tmp_path):
    _write_shot(tmp_path, 200, 360, 640)
    peak_40 = _peak(tmp_path, "1-40")
    peak_200 = _peak(tmp_path, "1-200")
    assert len(list((tmp_path / "out1-200").iterdir())) == 200
    assert peak_200 - peak_40 < MARGIN_BYTES, f"peak {peak_200 >> 20} MB for 200 frames vs {peak_40 >> 20} MB for 40"
