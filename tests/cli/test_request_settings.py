"""`e2fgvi remove` as a real subprocess: --shot/--frames and per-job propagate and colour settings reach the engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from e2fgvi_core.io import Frame, read_frame, write_frame
from e2fgvi_core.removal.api import MemorySink, RemovalRequest, run_removal


def _exr_shot(folder, length=10, height=40, width=64):
    """Scene-linear float plates (a moving gradient) with a static matte: the colour transform matters."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    for i in range(length):
        plate = np.stack([0.05 + 0.4 * xx / width, 0.1 + 0.3 * np.sin(yy / 5 + i / 3) ** 2, 0.2 + 0 * xx], -1)
        matte = np.zeros((height, width, 1), np.float32)
        matte[12:26, 20 + i : 36 + i] = 1.0
        write_frame(folder / f"plate.{1001 + i:04d}.exr", Frame.from_array(plate.astype(np.float32)))
        write_frame(folder / f"matte.{1001 + i:04d}.exr", Frame.from_array(matte))
    return {"plate": str(folder / "plate.%04d.exr"), "matte": str(folder / "matte.%04d.exr")}


def test_shot_frames_and_per_job_settings_through_the_cli(run_cli, tmp_path):
    pytest.importorskip("PyOpenColorIO")
    (tmp_path / "shot").mkdir()
    shot = _exr_shot(tmp_path / "shot")
    out = tmp_path / "out" / "clean.%04d.exr"
    done = run_cli(
        "remove", "--plate", shot["plate"], "--matte", shot["matte"], "--out", str(out), "--engine", "propagate",
        "--shot", "1001-1010", "--frames", "1004-1006", "--colorspace", "ACEScg",
        "--propagate-temporal-spatial-fill", "0", "--propagate-context-frames", "3", "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "wrote 3 frames" in done.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == [f"clean.{n}.exr" for n in (1004, 1005, 1006)]
    written = read_frame(str(out).replace("%04d", "1005"))
    assert written.metadata["e2fgvi:colorspace"] == "ACEScg"
    used = written.metadata  # every pixel-changing setting under its request key
    assert json.loads(used["e2fgvi:propagate_temporal_spatial_fill"]) == 0.0
    assert json.loads(used["e2fgvi:propagate_context_frames"]) == 3

    settings = {"engine": "propagate", "colorspace": "ACEScg", "propagate_temporal_spatial_fill": 0,
                "propagate_context_frames": 3}  # fmt: skip
    same, default = MemorySink(), MemorySink()
    run_removal(RemovalRequest.from_mapping({**shot, **settings, "shot": "1001-1010"}), sink=same)
    run_removal(RemovalRequest.from_mapping({**shot, "engine": "propagate"}), sink=default)
    assert np.array_equal(written.pixels, same.frames[1005].pixels)
    assert not np.array_equal(written.pixels, default.frames[1005].pixels)


def test_bad_propagate_setting_is_one_line_and_writes_nothing(run_cli, tmp_path):
    (tmp_path / "shot").mkdir()
    shot = _exr_shot(tmp_path / "shot", length=3)
    out = tmp_path / "out" / "clean.%04d.exr"
    done = run_cli(
        "remove", "--plate", shot["plate"], "--out", str(out), "--matte", shot["matte"], "--engine", "propagate",
        "--propagate-context-frames", "lots",
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "e2fgvi remove: error: propagate context_frames='lots': must be an integer"
    ]
    assert not out.parent.exists() or not any(out.parent.iterdir())
