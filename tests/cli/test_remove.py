"""`e2fgvi remove` as a real subprocess: parity case 3 on PNG sequences, progress and summary, bad input."""

from __future__ import annotations

import numpy as np
import pytest


def _tiny_shot(length=8, height=40, width=64):
    rng = np.random.default_rng(21)
    frames = rng.integers(0, 256, size=(length, height, width, 3), dtype=np.uint8)
    mattes = np.zeros((length, height, width), dtype=np.uint8)
    mattes[:, 10:20, 20:34] = 255
    return frames, mattes


def _remove(run_cli, folder, *extra, matte="matte.%04d.png", out=None):
    """``e2fgvi remove`` on the shot in ``folder`` (plate.%04d.png) writing ``out`` (default out/clean.%04d.png)."""
    out = out if out is not None else folder / "out" / "clean.%04d.png"
    return run_cli(
        "remove", "--plate", str(folder / "plate.%04d.png"), "--matte", str(folder / matte), "--out", str(out), *extra
    )


@pytest.mark.slow
def test_parity_case_3_through_the_cli(parity_dir, filled_checkpoint, tmp_path, run_cli, png_shot):
    from e2fgvi_core.io import read_frame

    data = np.load(parity_dir / "e2fgvi_hq_pipeline.npz")
    weights = filled_checkpoint(tmp_path / "seed1.pth", seed=int(data["weights_seed"]))
    folder = png_shot(data["frames_uint8"], data["masks_uint8"])  # masks are {0, 1}: > 0 means remove
    done = _remove(
        run_cli,
        folder,
        *("--engine", "e2fgvi_hq", "--weights", str(weights), "--device", "cpu", "--roi", "full"),
        matte="matte.####.png",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "frames/s" in done.stderr and "ETA" in done.stderr and "wrote 24 frames" in done.stderr
    out = np.stack([read_frame(folder / "out" / f"clean.{1001 + i:04d}.png").pixels for i in range(24)])
    ref = data["comp_uint8"]
    hole = np.broadcast_to(data["masks_dilated_uint8"].astype(bool)[..., None], ref.shape)
    diff = out.astype(np.int16) - ref.astype(np.int16)
    assert not diff[~hole].any() and np.abs(diff).max() <= 1
    assert np.count_nonzero(diff) <= hole.sum() // 1000


def test_default_engine_without_weights_says_so_and_succeeds(run_cli, png_shot):
    folder = png_shot(*_tiny_shot())
    done = _remove(run_cli, folder, "--frames", "1002-1007")
    assert done.returncode == 0, done.stderr
    assert "weight-free 'propagate' engine" in done.stderr and "wrote 6 frames" in done.stderr
    assert sorted(p.name for p in (folder / "out").iterdir()) == [f"clean.{n}.png" for n in range(1002, 1008)]


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"--frames": "990-1003"}, "missing frames 990-1000"),
        ({"--frames": "1005-1002"}, "is empty"),
        ({"--matte-channel": "Q"}, "no channel 'Q'; available channels: Y"),
        ({"--engine": "e2fgvi_hq"}, "e2fgvi weights add"),
        ({"--weights": "/nonexistent/E2FGVI-HQ.pth", "--engine": "e2fgvi_hq"}, "E2FGVI-HQ.pth"),
        ({"--proxy": "3"}, "proxy must be a number in [0.05, 1.0]"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(run_cli, png_shot, change, expected):
    folder = png_shot(*_tiny_shot())
    done = _remove(run_cli, folder, "--quiet", *(item for pair in change.items() for item in pair))
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and expected in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (folder / "out").exists() or not any((folder / "out").iterdir())


def test_size_mismatch_and_unwritable_output(run_cli, png_shot, tmp_path):
    from e2fgvi_core.io import Frame, write_frame

    frames, mattes = _tiny_shot()
    folder = png_shot(frames, mattes)
    write_frame(folder / "matte.1004.png", Frame.from_array(np.zeros((20, 30), np.uint8)))
    done = _remove(run_cli, folder, "--quiet")
    assert done.returncode == 2 and "30x20" in done.stderr and "64x40" in done.stderr, done.stderr
    # frames finished before the bad one are complete files; nothing half-written is left behind
    assert all(not p.name.startswith(".") for p in (folder / "out").iterdir()) if (folder / "out").exists() else True

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    done = _remove(run_cli, folder, "--quiet", out=blocker / "clean.%04d.png")
    assert done.returncode == 2 and "not a folder" in done.stderr, done.stderr


def test_output_must_not_overwrite_the_plate(run_cli, png_shot):
    folder = png_shot(*_tiny_shot())
    done = _remove(run_cli, folder, "--quiet", out=folder / "plate.%04d.png")
    assert done.returncode == 2 and "overwrite that input" in done.stderr
