"""``e2fgvi remove --resume``, ``--contact-sheet`` and Ctrl-C, in-process and through a real server: a resumed run
keeps exactly the frames that carry this request's provenance and writes the same bytes as one whole run; a
cancelled run says which frames are complete."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from e2fgvi_core.io.reader import read_frame
from e2fgvi_core.testing import PROJECT_ROOT, ServerProcess, free_address, make_shot, subprocess_env, wait_until

FRAMES = range(1001, 1013)


def _bytes(pattern: Path, frames) -> dict[int, bytes]:
    return {f: read_frame(str(pattern) % f).pixels.tobytes() for f in frames}


@pytest.fixture
def shot(tmp_path):
    return make_shot(tmp_path / "shot", frames=12)


@pytest.fixture
def server(tmp_path):
    process = ServerProcess(free_address(), ["--output-root", str(tmp_path)], tmp_path / "server.log").start()
    yield process
    process.kill()


@pytest.mark.parametrize("through_server", [False, True], ids=["in-process", "server"])
def test_resume_keeps_this_jobs_complete_frames_and_writes_the_same_bytes(
    run_cli, shot, tmp_path, through_server, request
):
    server = ["--server", request.getfixturevalue("server").address] if through_server else []
    common = ["remove", "--plate", shot["plate"], "--matte", shot["matte"], "--engine", "propagate", "--quiet"]
    whole, out = tmp_path / "whole" / "c.%04d.exr", tmp_path / "out" / "c.%04d.exr"
    assert run_cli(*common, "--out", str(whole)).returncode == 0
    first = run_cli(*common, "--out", str(out), *server)
    assert first.returncode == 0, first.stderr
    for frame in (1004, 1005, 1006):
        Path(str(out) % frame).unlink()  # as a cancelled run leaves them
    Path(str(out) % 1008).write_bytes(Path(str(out) % 1008).read_bytes()[:200])  # a truncated file
    again = run_cli(*common, "--out", str(out), "--resume", *server)  # before: --resume was no option
    assert again.returncode == 0, again.stderr
    assert "kept 8 of 12 frames already complete: 1001-1003, 1007, 1009-1012" in again.stderr
    assert "wrote 4 frames" in again.stderr
    assert _bytes(out, FRAMES) == _bytes(whole, FRAMES)  # bit for bit one whole run
    done = run_cli(*common, "--out", str(out), "--resume", *server)
    assert done.returncode == 0 and "all 12 frames are complete" in done.stderr and "wrote" not in done.stderr


def test_resume_never_keeps_a_frame_of_another_shot_or_setting(run_cli, shot, tmp_path):
    common = ["remove", "--plate", shot["plate"], "--matte", shot["matte"], "--engine", "propagate", "--quiet"]
    out = tmp_path / "out" / "c.%04d.exr"
    part = run_cli(*common, "--out", str(out), "--frames", "1001-1005")  # its shot was 1001-1005, not the whole
    assert part.returncode == 0, part.stderr
    whole = run_cli(*common, "--out", str(out), "--resume")
    assert whole.returncode == 0 and "kept" not in whole.stderr and "wrote 12 frames" in whole.stderr
    other = run_cli(*common, "--out", str(out), "--resume", "--dilate", "2")
    assert other.returncode == 0 and "kept" not in other.stderr and "wrote 12 frames" in other.stderr


@pytest.mark.parametrize("through_server", [False, True], ids=["in-process", "server"])
def test_contact_sheet_shows_plate_matte_and_result(run_cli, shot, tmp_path, through_server, request):
    server = ["--server", request.getfixturevalue("server").address] if through_server else []
    out, sheet = tmp_path / "out" / "c.%04d.exr", tmp_path / "sheets" / "sheet.png"
    done = run_cli(
        "remove", "--plate", shot["plate"], "--matte", shot["matte"], "--engine", "propagate", "--quiet",
        "--out", str(out), "--contact-sheet", str(sheet), *server,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"contact sheet {sheet}" in done.stderr
    image = read_frame(sheet).pixels
    height, width = 48, 64  # make_shot's frames; 4 rows of plate | matte | result with 4 px gaps
    assert image.dtype == np.uint8 and image.shape == (4 * height + 3 * 4, 3 * width + 2 * 4, 3)
    hole = image[:height, width + 4 : 2 * width + 4]
    assert set(np.unique(hole)) == {0, 255} and (hole == 255).all(axis=-1).sum() > 50  # the hole used, white
    result = image[:height, 2 * width + 8 :]
    plate = image[:height, :width]
    assert not np.array_equal(result, plate)


def test_a_contact_sheet_over_an_input_or_in_another_format_is_refused_before_any_work(run_cli, shot, tmp_path):
    common = ["remove", "--plate", shot["plate"], "--matte", shot["matte"], "--engine", "propagate", "--quiet"]
    out = tmp_path / "out" / "c.%04d.exr"
    for sheet, message in ((shot["plate"] % 1001, "--contact-sheet"), (str(tmp_path / "s.txt"), ".png")):
        done = run_cli(*common, "--out", str(out), "--contact-sheet", sheet)
        assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert not out.parent.exists()


@pytest.mark.parametrize("through_server", [False, True], ids=["in-process", "server"])
def test_ctrl_c_says_the_job_was_cancelled_and_which_frames_are_complete(tmp_path, through_server, request):
    long_shot = make_shot(tmp_path / "long", frames=240)
    out = tmp_path / "out" / "c.%04d.exr"
    server = ["--server", request.getfixturevalue("server").address] if through_server else []
    command = [sys.executable, "-m", "e2fgvi_core.cli.main", "remove", "--plate", long_shot["plate"]]
    command += ["--matte", long_shot["matte"], "--out", str(out), "--engine", "propagate", "--quiet", *server]
    env = subprocess_env(E2FGVI_WEIGHTS_DIR=str(tmp_path / "no-weights"))
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: Path(str(out) % 1001).is_file() or process.poll() is not None, timeout_s=120)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]  # before: "e2fgvi remove: interrupted"
    found = re.fullmatch(
        r"e2fgvi remove: cancelled: (\d+) of 240 frames are complete \((.+)\) in \S+, no partial file was left; "
        r"add --resume to the same command to render only the rest",
        last,
    )
    assert found, last
    complete = int(found.group(1))
    assert 1 <= complete < 240 and found.group(2).startswith("1001")
    written = sorted(p.name for p in out.parent.iterdir())
    assert len(written) >= complete and all(name.endswith(".exr") for name in written)  # no temp file left
