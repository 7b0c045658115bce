"""`e2fgvi remove` on scene-linear plates brighter than 1 and across formats (issue 10, items 2 and 3).

Item 2: the fill of a plate pushed +2 stops is the pushed fill: ``remove(plate * 4) == 4 * remove(plate)`` inside the
hole, measured bit for bit here (4 is a power of two, so the exposure normalisation sees exactly the same numbers),
for the weight-free engine and for E2FGVI-HQ with deterministic weights; values > 1 survive in the fill.
Item 3: the output encoding follows the output format, and a format that cannot hold the channels fails first.
"""

from __future__ import annotations

import numpy as np
import OpenImageIO as oiio
import pytest

from e2fgvi_core.io import Frame, read_frame, write_frame
from e2fgvi_core.io.colour import decode_srgb, encode_srgb

HOLE = (slice(14, 30), slice(30, 50))  # the matte
GROWN = (slice(10, 34), slice(26, 54))  # the matte with the official dilation (3x3 cross x4), as a box bound


def _linear_plate(length=4, height=48, width=80):
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for i in range(length):
        rgb = np.stack([0.3 + 0.25 * np.sin((xx + 2 * i) / 8), 0.25 + yy / 100, 0.2 + 0.2 * np.cos((xx + yy) / 11)], -1)
        frames.append(rgb.astype(np.float32))
    return np.stack(frames)


def _write(folder, frames, ext="exr"):
    matte = np.zeros(frames.shape[1:3], np.uint8)
    matte[HOLE] = 255
    for i, frame in enumerate(frames):
        write_frame(folder / f"plate.{1001 + i:04d}.{ext}", Frame.from_array(frame))
        write_frame(folder / f"matte.{1001 + i:04d}.png", Frame.from_array(matte))
    return folder


def _remove(run_cli, folder, out, *extra, ext="exr"):
    done = run_cli(
        "remove",
        *("--plate", str(folder / f"plate.%04d.{ext}"), "--matte", str(folder / "matte.%04d.png")),
        *("--out", str(folder / out), "--quiet"),
        *extra,
    )
    assert done.returncode == 0, done.stderr
    return done


def _outputs(folder, pattern, length=4):
    return np.stack([read_frame(folder / (pattern % (1001 + i))).pixels for i in range(length)])


def _check_pushed_equals_pushed_fill(run_cli, tmp_path, *engine):
    plate = _linear_plate()
    base = _write(tmp_path / "base", plate)
    pushed = _write(tmp_path / "pushed", plate * 4)
    _remove(run_cli, base, "out/c.%04d.exr", *engine)
    _remove(run_cli, pushed, "out/c.%04d.exr", *engine)
    out_base = _outputs(base, "out/c.%04d.exr")
    out_pushed = _outputs(pushed, "out/c.%04d.exr")
    hole = np.zeros(plate.shape[1:3], bool)
    hole[GROWN] = True
    assert np.array_equal(out_pushed[:, hole], 4 * out_base[:, hole])  # tolerance measured: 0 (bit for bit)
    assert np.array_equal(out_pushed[:, ~hole], plate[:, ~hole] * 4)  # outside: the plate itself
    assert out_pushed[:, HOLE[0], HOLE[1]].max() > 1.5  # highlights survive in the fill: not clipped at 1
    assert not np.array_equal(out_pushed[:, HOLE[0], HOLE[1]], plate[:, HOLE[0], HOLE[1]] * 4)  # it was filled


def test_pushed_plate_gives_the_pushed_fill_with_propagate(run_cli, tmp_path):
    _check_pushed_equals_pushed_fill(run_cli, tmp_path, "--engine", "propagate")


@pytest.mark.slow
def test_pushed_plate_gives_the_pushed_fill_with_e2fgvi_hq(run_cli, tmp_path, filled_checkpoint):
    weights = filled_checkpoint(tmp_path / "seed1.pth", seed=1)
    _check_pushed_equals_pushed_fill(
        run_cli, tmp_path, "--engine", "e2fgvi_hq", "--weights", str(weights), "--device", "cpu"
    )


def test_png_plate_to_exr_is_scene_linear_and_tagged(run_cli, tmp_path):
    plate = np.clip(_linear_plate(2) * 255, 0, 255).astype(np.uint8)
    folder = _write(tmp_path, plate, ext="png")
    _remove(run_cli, folder, "out/c.%04d.exr", "--engine", "propagate", ext="png")
    out = read_frame(folder / "out" / "c.1001.exr")
    assert out.pixels.dtype == np.float32
    # OpenImageIO 3.0 reads the tag back as lin_rec709, 3.2 as lin_rec709_scene: the same colourspace.
    assert oiio.ColorConfig().equivalent(out.metadata.get("oiio:ColorSpace", ""), "lin_rec709_scene")
    outside = np.ones(plate.shape[1:3], bool)
    outside[GROWN] = False
    expected = decode_srgb(plate[0].astype(np.float32) / 255)
    assert np.allclose(out.pixels[outside], expected[outside], atol=1e-6)


def test_exr_plate_to_png_is_display_referred(run_cli, tmp_path):
    plate = _linear_plate(2)
    folder = _write(tmp_path, plate)
    _remove(run_cli, folder, "out/c.%04d.png", "--engine", "propagate")
    out = read_frame(folder / "out" / "c.1001.png")
    assert out.pixels.dtype == np.uint8
    outside = np.ones(plate.shape[1:3], bool)
    outside[GROWN] = False
    expected = np.round(np.clip(encode_srgb(plate[0]), 0, 1) * 255)
    assert np.abs(out.pixels[outside].astype(np.int16) - expected[outside]).max() <= 1


def test_five_channels_to_png_fail_before_any_work_and_out_channels_fixes_it(run_cli, tmp_path):
    plate = _linear_plate(2)
    for i, frame in enumerate(plate):
        pixels = np.concatenate([frame, np.ones_like(frame[..., :1]), frame[..., :1] * 10], -1)
        write_frame(
            tmp_path / f"plate.{1001 + i:04d}.exr",
            Frame(pixels, ("R", "G", "B", "A", "depth.Z"), (0, 0, 80, 48), (0, 0, 80, 48)),
        )
        matte = np.zeros((48, 80), np.uint8)
        matte[HOLE] = 255
        write_frame(tmp_path / f"matte.{1001 + i:04d}.png", Frame.from_array(matte))
    args = ("remove", "--plate", str(tmp_path / "plate.%04d.exr"), "--matte", str(tmp_path / "matte.%04d.png"))
    refused = run_cli(*args, "--out", str(tmp_path / "out" / "c.%04d.png"), "--engine", "propagate", "--quiet")
    assert refused.returncode == 2 and "--out-channels R,G,B,A" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    fixed = run_cli(*args, "--out", str(tmp_path / "out" / "c.%04d.png"), "--out-channels", "R,G,B", "--quiet")
    assert fixed.returncode == 0, fixed.stderr
    assert read_frame(tmp_path / "out" / "c.1002.png").channels == ("R", "G", "B")
