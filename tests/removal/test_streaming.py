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
from e2fgvi_core.testing import PROJECT_ROOT

MARGIN_BYTES = 48 << 20
FLAT_BYTES = 16 << 20

_CHILD = """
import json, resource, sys
from e2fgvi_core.removal.api import RemovalRequest, run_removal
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


def _run_child(code: str, request: dict, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter with the request as JSON; its last stdout line, parsed."""
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(request)],
        check=False,
        cwd=PROJECT_ROOT,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), **env),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _peak(folder: Path, frames: str) -> int:
    request = {
        "plate": str(folder / "plate.%04d.png"),
        "matte": str(folder / "matte.%04d.png"),
        "out": str(folder / f"out{frames}" / "clean.%04d.png"),
        "frames": frames,
        "engine": "propagate",
    }
    # 12 frames of context each side: the window (11 local frames + 2 x 12) fits in the 40-frame shot, so the short
    # run already holds one full window and the comparison measures streaming, not the window size.
    result = _run_child(_CHILD, request, E2FGVI_PROPAGATE_CONTEXT_FRAMES="12")
    assert result["frames"] == int(frames.split("-")[1]) - int(frames.split("-")[0]) + 1
    return result["maxrss_kb"] * 1024


_MODEL_CHILD = """
import json, sys
from e2fgvi_core.removal.api import RemovalRequest, run_removal
from e2fgvi_core.removal.sources import SequenceSource

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

class RssAtReads(SequenceSource):
    # Reads happen at the start of a window, after the previous one has released its frames: resident memory there
    # is what the run keeps between windows. The file is really read.
    samples = []

    def read(self, frame):
        self.samples.append((frame, rss()))
        return super().read(frame)

request = RemovalRequest.from_mapping(json.loads(sys.argv[1]))
source = RssAtReads(request.plate, request.frames, name="plate")
summary = run_removal(request, source=source)
print(json.dumps({"frames": len(summary.frames), "cache_bytes": summary.cache_stats.bytes,
                  "samples": RssAtReads.samples}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_model_resident_memory_between_windows_stays_flat(tmp_path, make_checkpoint):
    """E2FGVI-HQ on the CPU, cache budget 16 MiB (full after ~20 frames): RSS between windows must not creep up.

    Without ``removal/memory.py`` (``E2FGVI_MALLOC_TRIM=0``) glibc's heap fragmentation made it grow past the bound
    over these 100 frames although nothing was kept per window; with it, it stays within a few MiB (docs/engine.md,
    "Memory", has the measured numbers).
    """
    length = 100
    _write_shot(tmp_path, length, 360, 640)
    request = {
        "plate": str(tmp_path / "plate.%04d.png"),
        "matte": str(tmp_path / "matte.%04d.png"),
        "out": str(tmp_path / "out" / "clean.%04d.png"),
        "frames": f"1-{length}",
        "engine": "e2fgvi_hq",
        "weights": str(make_checkpoint(1)),
        "device": "cpu",
        "num_ref": 2,
        "roi": "auto",
        "roi_margin": 8,
    }
    result = _run_child(_MODEL_CHILD, request, E2FGVI_CACHE_BYTES="16M")
    assert result["frames"] == length
    assert result["cache_bytes"] > 12 << 20, "the cache should be full: the test is about what comes after"
    # One sample per window: the RSS when its first new frame is read (a window reads 5 new local frames).
    by_frame = dict(result["samples"])
    starts = sorted(frame for frame in by_frame if frame > 30)
    settled = by_frame[starts[0]]  # the cache has reached its budget by frame 30
    worst = max(by_frame[frame] for frame in starts)
    assert worst - settled < FLAT_BYTES, (
        f"RSS between windows grew by {(worst - settled) >> 20} MiB after frame {starts[0]} "
        f"({settled >> 20} -> {worst >> 20} MiB)"
    )


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_shot_length(tmp_path):
    _write_shot(tmp_path, 200, 360, 640)
    peak_40 = _peak(tmp_path, "1-40")
    peak_200 = _peak(tmp_path, "1-200")
    assert len(list((tmp_path / "out1-200").iterdir())) == 200
    assert peak_200 - peak_40 < MARGIN_BYTES, f"peak {peak_200 >> 20} MB for 200 frames vs {peak_40 >> 20} MB for 40"
