"""`e2fgvi remove` on real-world plates and mattes (issue 10): no silent mistakes, matte controls that work.

Each test runs the real command in a subprocess on a tiny shot (a few frames, small crops) with the weight-free
propagate engine, and checks the files it wrote (or did not write).
"""

from __future__ import annotations

import numpy as np
import pytest

from e2fgvi_core.io import Frame, read_frame, write_frame


def _smooth_plate(length=4, height=40, width=64, seed=5):
    """Smooth moving gradients (fillable) as uint8 RGB frames."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(length):
        rgb = np.stack([xx / width, yy / height, 0.5 + 0.4 * np.sin((xx + 2 * i) / 9)], -1)
        frames.append(np.clip(rgb * 255, 0, 255).astype(np.uint8))
    return np.stack(frames)


def _write_shot(folder, frames, mattes, matte_ext="png"):
    for i, (frame, matte) in enumerate(zip(frames, mattes)):
        write_frame(folder / f"plate.{1001 + i:04d}.png", Frame.from_array(frame))
        write_frame(folder / f"matte.{1001 + i:04d}.{matte_ext}", Frame.from_array(matte))
    return folder


def _remove(run_cli, folder, *extra, out="out/clean.%04d.png", matte="matte.%04d.png"):
    return run_cli(
        "remove",
        *("--plate", str(folder / "plate.%04d.png"), "--matte", str(folder / matte)),
        *("--out", str(folder / out), "--engine", "propagate", "--quiet"),
        *extra,
    )


def test_palette_matte_removes_every_colour_and_says_which_rule(run_cli, footage_dir, tmp_path):
    """The schoolgirls masks: one colour per person; before, people whose colour has no red stayed in."""
    from e2fgvi_core.io import read_frame

    names = ("00000", "00001", "00002")
    crop = (slice(40, 200), slice(100, 340))
    for i, name in enumerate(names):
        plate = read_frame(footage_dir / "schoolgirls" / "frames" / f"{name}.png").pixels[crop]
        matte = read_frame(footage_dir / "schoolgirls" / "masks" / f"{name}.png").pixels[crop]
        write_frame(tmp_path / f"plate.{1001 + i:04d}.png", Frame.from_array(np.ascontiguousarray(plate)))
        write_frame(tmp_path / f"matte.{1001 + i:04d}.png", Frame.from_array(np.ascontiguousarray(matte)))
    done = _remove(run_cli, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "a multi-colour matte" in done.stderr and "any channel" in done.stderr
    assert "disagree" not in done.stderr
    for i in range(3):
        plate = read_frame(tmp_path / f"plate.{1001 + i:04d}.png").pixels
        matte = read_frame(tmp_path / f"matte.{1001 + i:04d}.png").pixels
        out = read_frame(tmp_path / "out" / f"clean.{1001 + i:04d}.png").pixels
        no_red = (matte[..., 0] == 0) & (matte[..., 1:] > 0).any(axis=-1)
        assert no_red.sum() > 200
        changed = (out != plate).any(axis=-1)
        assert changed[no_red].mean() > 0.5  # those people were filled, not left in the plate


def test_output_pattern_without_frame_token_is_refused_before_any_work(run_cli, tmp_path):
    mattes = np.zeros((3, 40, 64), np.uint8)
    mattes[:, 10:20, 20:30] = 255
    folder = _write_shot(tmp_path, _smooth_plate(3), mattes)
    done = _remove(run_cli, folder, out="out/clean.png")
    assert done.returncode == 2
    assert "no frame-number token" in done.stderr and "clean.%04d.png" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (folder / "out" / "clean.png").exists()


def test_explicit_cuda_without_cuda_is_an_error_for_every_engine(run_cli, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    mattes = np.zeros((2, 40, 64), np.uint8)
    mattes[:, 10:20, 20:30] = 255
    folder = _write_shot(tmp_path, _smooth_plate(2), mattes)
    done = _remove(run_cli, folder, "--device", "cuda")
    assert done.returncode == 2 and "CUDA is not available" in done.stderr
    assert not (folder / "out").exists() or not any((folder / "out").iterdir())


def test_unknown_colorspace_on_an_8bit_plate_lists_valid_names(run_cli, tmp_path):
    mattes = np.zeros((2, 40, 64), np.uint8)
    mattes[:, 10:20, 20:30] = 255
    folder = _write_shot(tmp_path, _smooth_plate(2), mattes)
    done = _remove(run_cli, folder, "--colorspace", "NotAColourspace")
    assert done.returncode == 2, done.stderr
    assert "NotAColourspace" in done.stderr and "valid:" in done.stderr and "ACEScg" in done.stderr


def test_data_windows_that_differ_per_frame_and_overscan_work(run_cli, tmp_path):
    """Before: `plate frame 1002 is 48x32 but the shot is 64x40`. Now each frame keeps its own data window."""
    display = (0, 0, 64, 40)
    windows = [(0, 0, 64, 40), (6, 4, 48, 32), (-4, -3, 72, 46)]
    rng = np.random.default_rng(2)
    originals = []
    for i, (x, y, w, h) in enumerate(windows):
        yy, xx = np.mgrid[y : y + h, x : x + w].astype(np.float32)
        rgb = np.stack([0.2 + xx / 80, 0.1 + yy / 60, 0.3 + 0.2 * np.sin(xx / 7 + i)], -1)
        pixels = np.concatenate([rgb, rng.random((h, w, 1))], -1).astype(np.float16)
        frame = Frame(pixels, ("R", "G", "B", "A"), (x, y, w, h), display)
        originals.append(frame)
        write_frame(tmp_path / f"plate.{1001 + i:04d}.exr", frame)
        matte = np.zeros((40, 64), np.uint8)
        matte[14:24, 26:38] = 255
        write_frame(tmp_path / f"matte.{1001 + i:04d}.png", Frame.from_array(matte))
    done = run_cli(
        "remove",
        *("--plate", str(tmp_path / "plate.%04d.exr"), "--matte", str(tmp_path / "matte.%04d.png")),
        *("--out", str(tmp_path / "out" / "clean.%04d.exr"), "--engine", "propagate", "--quiet"),
    )
    assert done.returncode == 0, done.stderr
    for i, original in enumerate(originals):
        out = read_frame(tmp_path / "out" / f"clean.{1001 + i:04d}.exr")
        assert out.data_window == original.data_window and out.display_window == display
        x, y = original.data_window[:2]
        hole = np.zeros(original.pixels.shape[:2], bool)
        ys, xs = np.mgrid[y : y + original.height, x : x + original.width]
        hole[(ys >= 10) & (ys < 28) & (xs >= 22) & (xs < 42)] = True  # the matte grown by the dilation
        same = out.pixels.view(np.uint16) == original.pixels.view(np.uint16)
        assert same[~hole].all()  # overscan and everything outside the hole: bit for bit
        assert not same[..., :3][hole].all()


def _square_shot(tmp_path, length=3):
    mattes = np.zeros((length, 40, 64), np.uint8)
    mattes[:, 12:22, 24:36] = 255
    return _write_shot(tmp_path, _smooth_plate(length), mattes), mattes[0] > 0


def test_dilate_zero_and_write_matte_show_the_hole_used(run_cli, tmp_path):
    folder, matte = _square_shot(tmp_path)
    done = _remove(run_cli, folder, "--dilate", "0", "--write-matte", str(folder / "used" / "hole.%04d.png"))
    assert done.returncode == 0, done.stderr
    for n in range(1001, 1004):
        used = read_frame(folder / "used" / f"hole.{n:04d}.png").pixels[..., 0]
        assert np.array_equal(used > 0, matte)  # no dilation: the matte itself
        plate = read_frame(folder / f"plate.{n:04d}.png").pixels
        out = read_frame(folder / "out" / f"clean.{n:04d}.png").pixels
        assert np.array_equal(out[~matte], plate[~matte])
    default = _remove(run_cli, folder, "--write-matte", str(folder / "default" / "hole.%04d.png"), out="d/c.%04d.png")
    assert default.returncode == 0, default.stderr
    grown = read_frame(folder / "default" / "hole.1001.png").pixels[..., 0] > 0
    assert grown.sum() > matte.sum() and grown[matte].all()  # the official 3x3 cross x4


@pytest.mark.parametrize("target", ["matte.%04d.png", "plate.%04d.png", "out/clean.%04d.png"])
def test_write_matte_over_an_input_or_the_result_is_refused_and_nothing_changes(run_cli, tmp_path, target):
    """Before: --write-matte over the input matte replaced it with exit code 0 (and over --out lost the matte)."""
    import hashlib

    folder, _ = _square_shot(tmp_path)

    def digests():
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.png"))}

    before = digests()
    done = _remove(run_cli, folder, "--write-matte", str(folder / target))
    assert done.returncode == 2 and "--write-matte" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert digests() == before and not (folder / "out").exists()


def test_invert_threshold_and_feather(run_cli, tmp_path):
    folder, matte = _square_shot(tmp_path)
    holdout = _remove(
        run_cli, folder, "--matte-invert", "--write-matte", str(folder / "inv.%04d.exr"), out="i/%04d.png"
    )
    assert holdout.returncode == 0, holdout.stderr
    used = read_frame(folder / "inv.1001.exr").pixels[..., 0]
    assert used.dtype == np.float32 and used[0, 0] == 1.0 and used[17, 30] == 0.0
    # the inverted matte is nearly the whole frame: one warning for the shot with the count (before: one per frame)
    assert holdout.stderr.count("covers") == 1, holdout.stderr
    assert "covers more than 90% of the frame on 3 of 3 frames read (1001-1003; up to" in holdout.stderr
    high = _remove(run_cli, folder, "--matte-threshold", "0.999", "--write-matte", str(folder / "t.%04d.png"))
    assert high.returncode == 0, high.stderr  # 255/255 = 1.0 > 0.999: still removed
    assert (read_frame(folder / "t.1001.png").pixels[..., 0] > 0).sum() > matte.sum()
    soft = _remove(run_cli, folder, "--feather", "3", "--write-matte", str(folder / "f.%04d.exr"), out="f/%04d.png")
    assert soft.returncode == 0, soft.stderr
    weights = read_frame(folder / "f.1001.exr").pixels[..., 0]
    assert ((weights > 0) & (weights < 1)).any() and weights.max() == 1.0


def test_matte_channel_out_naming_a_plate_channel_is_refused_before_any_work(run_cli, tmp_path):
    folder, _ = _square_shot(tmp_path)
    done = _remove(run_cli, folder, "--matte-channel-out", "G", out="x/clean.%04d.exr")
    assert done.returncode == 2 and "the plate has that channel already" in done.stderr, done.stderr
    assert not (folder / "x").exists()  # nothing was computed or written (before: refused at the first write)


def test_matte_channel_out_needs_exr_and_is_refused_up_front_for_png(run_cli, tmp_path):
    folder, _ = _square_shot(tmp_path)
    done = _remove(run_cli, folder, "--matte-channel-out")
    assert done.returncode == 2 and "--matte-channel-out" in done.stderr and ".exr" in done.stderr
    assert not (folder / "out").exists()
    exr = _remove(run_cli, folder, "--matte-channel-out", "--out", str(folder / "e" / "c.%04d.exr"))
    assert exr.returncode == 0, exr.stderr
    frame = read_frame(folder / "e" / "c.1001.exr")
    assert frame.channels[-1] == "matte.A" and frame.pixels[17, 30, -1] == 1.0 and frame.pixels[0, 0, -1] == 0.0


def test_empty_matte_on_every_frame_is_a_warning(run_cli, tmp_path):
    folder = _write_shot(tmp_path, _smooth_plate(2), np.zeros((2, 40, 64), np.uint8))
    done = _remove(run_cli, folder)
    assert done.returncode == 0, done.stderr
    assert "warning: the matte is empty on all 2 frames" in done.stderr


def test_nan_inside_the_matte_is_warned_when_the_frame_is_read(run_cli, tmp_path):
    """Before: the NaN warning came only after the bar reached done."""
    yy, xx = np.mgrid[0:40, 0:64].astype(np.float32)
    matte = np.zeros((40, 64), np.uint8)
    matte[12:22, 24:36] = 255
    for i in range(3):
        rgb = np.stack([xx / 64, yy / 40, 0.5 + 0.3 * np.sin((xx + i) / 6)], -1).astype(np.float32)
        rgb[15, 30] = np.nan
        write_frame(tmp_path / f"plate.{1001 + i:04d}.exr", Frame.from_array(rgb))
        write_frame(tmp_path / f"matte.{1001 + i:04d}.png", Frame.from_array(matte))
    done = run_cli(
        "remove",
        *("--plate", str(tmp_path / "plate.%04d.exr"), "--matte", str(tmp_path / "matte.%04d.png")),
        *("--out", str(tmp_path / "out" / "c.%04d.exr"), "--engine", "propagate"),
    )
    assert done.returncode == 0, done.stderr
    warning = done.stderr.index("inside the matte hold NaN or Inf")
    assert warning < done.stderr.index(" done ") < done.stderr.index("wrote 3 frames")
    assert np.isfinite(read_frame(tmp_path / "out" / "c.1001.exr").pixels[15, 30]).all()  # replaced by the fill
