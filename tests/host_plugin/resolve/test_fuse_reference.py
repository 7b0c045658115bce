"""The Fuse's Reference input (issue 21): clean frames the artist painted go to the server as ``--reference N=PATH``
(RGBA EXRs, alpha = the pixels to trust, written whole through EXRIO into the Fuse's cache), and enter the chunk
key, so a changed reference or reference list never gives a stale result. Real LuaJIT (lupa), the Fusion stand-in,
a real server through the real ``e2fgvi remove --server`` command."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import lupa.luajit21 as luajit
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "standins"))

import host_test_support as support
from fusion_session import FUSE, FUSION_API_MARKER, FusionSession

FIRST, LAST, REFERENCE = 1001, 1006, 1003
HOLE = (slice(12, 26), slice(20, 34))  # rows, columns (top-down) of the object that never moves


def static_shot() -> tuple[dict[str, dict[int, np.ndarray]], np.ndarray]:
    """Fusion images of a locked-off shot whose object never moves (no frame shows what is behind it), and the clean
    background: what a reference frame painted by the artist would hold."""
    h, w = 40, 56
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    clean = np.stack(
        [
            0.3 + 0.2 * np.sin(xx / 2.5),
            0.35 + 0.2 * np.cos(yy / 2.0),
            0.25 + 0.15 * np.sin((xx - yy) / 3.0),
            1 + 0 * xx,
        ],
        -1,
    ).astype(np.float32)
    matte = np.zeros((h, w, 4), np.float32)
    matte[HOLE] = 1.0
    plate = clean.copy()
    plate[HOLE[0], HOLE[1], :3] = (1.0, 0.0, 0.0)
    frames = {"Source": {f: plate.copy() for f in range(FIRST, LAST + 1)}, "Matte": {}, "Reference": {}}
    frames["Matte"] = {f: matte.copy() for f in range(FIRST, LAST + 1)}
    return frames, clean


@pytest.fixture
def counted_command(tmp_path, monkeypatch):
    """``E2FGVI_FUSE_COMMAND``: the real ``e2fgvi`` of this checkout behind a script that logs each run's arguments."""
    log = tmp_path / "runs.log"
    script = tmp_path / "e2fgvi-counted"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\nexec {support.cli_command()} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("E2FGVI_FUSE_COMMAND", str(script))
    monkeypatch.setenv("PYTHONPATH", str(support.PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return lambda: log.read_text().splitlines() if log.exists() else []


def hole_error(out: np.ndarray, clean: np.ndarray) -> float:
    return float(np.mean((out[HOLE[0], HOLE[1], :3] - clean[HOLE[0], HOLE[1], :3]) ** 2))


def test_a_reference_frame_gives_a_better_fill_and_enters_the_cache_key(server, tmp_path, counted_command):
    frames, clean = static_shot()
    session = FusionSession(frames, FIRST, LAST)
    for name, value in (("engine", 3), ("server", server.address), ("chunk_size", 6), ("colorspace", "")):
        session.set(name, value)
    session.set("cache", str(tmp_path / "fuse cache"))  # a space in every path the command line carries
    without = session.render(1005)
    assert len(counted_command()) == 1 and "--reference" not in counted_command()[0]

    session.frames["Reference"][REFERENCE] = clean.copy()  # the artist's clean plate of frame 1003, alpha 1
    session.set("reference_frames", str(REFERENCE))
    with_reference = session.render(1005)
    runs = counted_command()
    assert len(runs) == 2, "a new reference list is a new chunk key"
    assert f"--reference {REFERENCE}={tmp_path / 'fuse cache'}/" in runs[1]
    [written] = (tmp_path / "fuse cache").glob(f"*/inputs/reference.{REFERENCE}.exr")
    np.testing.assert_array_equal(support.read_exr(written), clean)  # RGBA, whole, as painted

    assert not np.array_equal(with_reference, without)
    print(
        f"hole MSE without a reference {hole_error(without, clean):.2g}, with one {hole_error(with_reference, clean):.2g}"
    )
    assert hole_error(with_reference, clean) < 0.25 * hole_error(without, clean), (
        hole_error(with_reference, clean),
        hole_error(without, clean),
    )

    # the artist repaints the reference: Fusion asks for the frame again, the Fuse must not serve the old result
    session.frames["Reference"][REFERENCE][HOLE[0], HOLE[1], :3] = 0.5
    repainted = session.render(1005)
    assert len(counted_command()) == 3
    assert not np.array_equal(repainted, with_reference)

    session.set("reference_frames", "")  # back to no reference: the first run's chunk is still cached
    np.testing.assert_array_equal(session.render(1005), without)
    assert len(counted_command()) == 3
    assert not list((tmp_path / "fuse cache").glob("*/inputs/reference.*.exr"))  # no reference file left to pass


def test_a_reference_frame_needs_the_reference_input(server, tmp_path, counted_command):
    frames, _ = static_shot()
    session = FusionSession(frames, FIRST, LAST)
    for name, value in (("engine", 3), ("server", server.address), ("cache", str(tmp_path / "c"))):
        session.set(name, value)
    session.set("reference_frames", "1002")
    with pytest.raises(luajit.LuaError) as raised:
        session.render(FIRST)
    assert "frame 1002 is a reference frame: connect the Reference input" in str(raised.value).splitlines()[0]
    session.set("reference_frames", "1200")
    with pytest.raises(luajit.LuaError) as raised:
        session.render(FIRST)
    assert "reference frame 1200 is outside the shot 1001-1006" in str(raised.value).splitlines()[0]
    assert counted_command() == []


def host_free_core():
    source = FUSE.read_text()
    lua = luajit.LuaRuntime(unpack_returned_tuples=True)
    return lua, lua.execute(source[: source.index(FUSION_API_MARKER)] + "\nreturn Core\n")


def test_the_reference_frames_control_reads_frames_and_ranges():
    _lua, core = host_free_core()  # the runtime stays alive while its tables are used
    assert list(core.parse_frames("1050, 1080-1082,1050").values()) == [1050, 1080, 1081, 1082]
    assert list(core.parse_frames("").values()) == []
    for bad in ("1050;1060", "1082-1080", "ten"):
        with pytest.raises(luajit.LuaError, match="Reference frames: .* is not a frame or a range"):
            core.parse_frames(bad)
