"""Issue 11, item 1: no output frame may be an input frame, however the two are spelled (compared as files).

Through the real CLI (in process and ``--server``) with ``####``, ``@@@@``, ``%d``-free spellings and a symlinked
folder, and at write time in ``io.writer`` after the folder was swapped for a link.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from e2fgvi_core.errors import OutputError
from e2fgvi_core.io.frame import Frame
from e2fgvi_core.io.sequence import file_identities
from e2fgvi_core.io.writer import write_frame
from e2fgvi_core.testing import run_python

CLI_TIMEOUT_S = 120


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _remove(support, plate: str, matte: str, out: str, *extra: str) -> subprocess.CompletedProcess:
    return run_python(
        ["-m", "e2fgvi_core.cli.main", "remove", "--plate", plate, "--matte", matte, "--out", out]
        + ["--engine", "propagate", "--quiet", *extra],
        timeout_s=CLI_TIMEOUT_S,
    )


@pytest.mark.parametrize("spelling", ["plate.####.exr", "plate.@@@@.exr", "link/plate.%04d.exr"])
def test_the_cli_refuses_an_output_that_is_the_plate_under_another_spelling(shot_maker, tmp_path, support, spelling):
    shot = shot_maker(tmp_path / "shot", frames=3)
    (tmp_path / "shot" / "link").symlink_to(tmp_path / "shot")
    before = _digests(tmp_path / "shot")
    out = str(tmp_path / "shot" / spelling)
    done = _remove(support, shot["plate"], shot["matte"], out)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "same file as input" in lines[0] and "overwrite" in lines[0], done.stderr
    assert _digests(tmp_path / "shot") == before


def test_the_server_refuses_an_output_that_is_the_matte_under_another_spelling(server, shot, support):
    before = _digests(Path(shot["plate"]).parent)
    out = shot["matte"].replace("%04d", "####")
    done = _remove(support, shot["plate"], shot["matte"], out, "--server", server.address)
    assert done.returncode == 2, done.stderr
    assert "same file as input" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert _digests(Path(shot["plate"]).parent) == before
    assert server.alive()


def test_write_time_check_refuses_a_folder_swapped_for_a_link_to_the_plate(tmp_path):
    plate_dir = tmp_path / "plate"
    plate_dir.mkdir()
    plate = plate_dir / "plate.1001.exr"
    write_frame(plate, Frame.from_array(np.full((4, 4, 3), 0.5, np.float32)))
    before = plate.read_bytes()
    protect = file_identities([str(plate)])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    os.rmdir(out_dir)
    out_dir.symlink_to(plate_dir)  # the swap between the check before work and the write
    with pytest.raises(OutputError, match="same file as input"):
        write_frame(out_dir / "plate.1001.exr", Frame.from_array(np.zeros((4, 4, 3), np.float32)), protect=protect)
    assert plate.read_bytes() == before
    assert sorted(p.name for p in plate_dir.iterdir()) == ["plate.1001.exr"]  # no temp file left


def test_a_multi_part_exr_plate_keeps_its_other_parts_in_the_output(tmp_path, support):
    import OpenImageIO as oiio

    from e2fgvi_core.testing import make_shot

    shot = make_shot(tmp_path / "shot", frames=3)
    depth = {}
    for number in (1001, 1002, 1003):  # add a depth part to each plate frame
        path = shot["plate"] % number
        beauty = oiio.ImageBuf(path)
        spec = oiio.ImageSpec(beauty.spec())
        spec.attribute("name", "beauty")
        z_spec = oiio.ImageSpec(spec.width, spec.height, 1, "float")
        z_spec.channelnames = ("Z",)
        z_spec.attribute("name", "depth")
        depth[number] = np.random.default_rng(number).random((spec.height, spec.width, 1), dtype=np.float32)
        pixels = beauty.get_pixels(oiio.HALF)
        out = oiio.ImageOutput.create(path)
        assert out.open(path, [spec, z_spec]) and out.write_image(pixels)
        assert out.open(path, z_spec, "AppendSubimage") and out.write_image(depth[number])
        out.close()
    result = tmp_path / "out" / "clean.%04d.exr"
    done = _remove(support, shot["plate"], shot["matte"], str(result))
    assert done.returncode == 0, done.stderr
    for number in (1001, 1002, 1003):
        written = oiio.ImageInput.open(str(result) % number)
        assert written.seek_subimage(1, 0) and written.spec().channelnames == ("Z",)
        assert written.spec().getattribute("name") == "depth"
        assert np.array_equal(written.read_image(1, 0, 0, 1, "float"), depth[number])
        assert not written.seek_subimage(2, 0)
        written.close()
