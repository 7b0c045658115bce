"""``e2fgvi remove --reference FRAMES=PATH``: a clean frame the artist painted is trusted background at its frame and
travels to the others (the propagate engine), through the CLI, exactly in subsets, with paths relative to the caller.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from e2fgvi_core import metrics
from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.io.writer import write_frame
from e2fgvi_core.testing import subprocess_env

FIRST, COUNT = 1001, 9
HOLE = (slice(16, 40), slice(24, 56))


def _static_shot(folder) -> np.ndarray:
    """A textured background under a static hole that no frame ever reveals; returns the clean background."""
    rng = np.random.default_rng(7)
    background = np.kron(rng.integers(0, 256, (16, 20, 3)), np.ones((4, 4, 1))).astype(np.uint8)  # 64x80
    for i in range(COUNT):
        plate = background.copy()
        plate[HOLE] = (255, 0, 0)
        matte = np.zeros(plate.shape[:2], np.uint8)
        matte[HOLE] = 255
        write_frame(folder / f"plate.{FIRST + i:04d}.png", Frame.from_array(plate))
        write_frame(folder / f"matte.{FIRST + i:04d}.png", Frame.from_array(matte))
    write_frame(folder / "clean.1005.png", Frame.from_array(background))
    return background


def _remove(folder, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "e2fgvi_core.cli.main", "remove", "--plate", "plate.%04d.png", "--matte",
         "matte.%04d.png", "--engine", "propagate", "--dilate", "0", "--quiet",
         *extra],
        cwd=folder, env=subprocess_env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_reference_frame_is_trusted_at_its_frame_and_carried_to_the_others(tmp_path):
    truth = _static_shot(tmp_path)
    without = _remove(tmp_path, "--out", "plain/c.%04d.png")
    assert without.returncode == 0, without.stderr
    with_ref = _remove(tmp_path, "--out", "ref/c.%04d.png", "--reference", "1005=clean.1005.png")  # relative: here
    assert with_ref.returncode == 0, with_ref.stderr
    hole = np.zeros(truth.shape[:2], bool)
    hole[HOLE] = True
    for frame in range(FIRST, FIRST + COUNT):
        plain = read_frame(tmp_path / "plain" / f"c.{frame}.png").pixels
        ref = read_frame(tmp_path / "ref" / f"c.{frame}.png").pixels
        gain = metrics.psnr(truth, ref, mask=hole) - metrics.psnr(truth, plain, mask=hole)
        assert gain > 10.0, (frame, gain)  # nothing else shows the background: only the reference can
        np.testing.assert_array_equal(ref[~hole], truth[~hole])  # outside the matte: the plate, untouched
    at_reference = read_frame(tmp_path / "ref" / "c.1005.png").pixels
    np.testing.assert_array_equal(at_reference[hole], truth[hole])  # fully trusted: the painted frame itself
    assert "e2fgvi:reference" in read_frame(tmp_path / "ref" / "c.1005.png").metadata  # provenance names it

    subset = _remove(tmp_path, "--out", "part/c.%04d.png", "--reference", "1005=clean.1005.png", "--frames",
                     "1008-1009", "--shot", f"{FIRST}-{FIRST + COUNT - 1}")  # fmt: skip
    assert subset.returncode == 0, subset.stderr
    for frame in (1008, 1009):  # exact: a chunk far from the reference equals the whole run
        np.testing.assert_array_equal(
            read_frame(tmp_path / "part" / f"c.{frame}.png").pixels,
            read_frame(tmp_path / "ref" / f"c.{frame}.png").pixels,
        )


def test_a_reference_outside_the_shot_or_of_another_size_is_one_line_and_writes_nothing(tmp_path):
    _static_shot(tmp_path)
    outside = _remove(tmp_path, "--out", "a/c.%04d.png", "--reference", "999=clean.1005.png")
    assert outside.returncode == 2 and "reference frame 999" in outside.stderr
    assert len(outside.stderr.strip().splitlines()) <= 2 and not (tmp_path / "a").exists()
    write_frame(tmp_path / "small.png", Frame.from_array(np.zeros((8, 8, 3), np.uint8)))
    small = _remove(tmp_path, "--out", "b/c.%04d.png", "--reference", "1002=small.png")
    assert small.returncode == 2 and "8x8" in small.stderr and not (tmp_path / "b").exists()
    twice = _remove(tmp_path, "--out", "c/c.%04d.png", "--reference", "1002=small.png", "--reference", "1002=x.png")
    assert twice.returncode == 2 and "given twice" in twice.stderr and os.listdir(tmp_path).count("c") == 0
