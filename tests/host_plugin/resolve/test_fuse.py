"""The *Remove Object* Fuse, run in real LuaJIT 2.1 (lupa) with a stand-in of Fusion's Fuse API, against a real
``e2fgvi-server`` through the real ``e2fgvi remove --server`` command it starts as an external process."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import lupa.luajit21 as luajit
import numpy as np
import OpenImageIO as oiio
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "standins"))

import host_test_support as support
from fusion_session import FUSE, FUSION_API_MARKER, FusionSession

from e2fgvi_core.testing import wait_until
from e2fgvi_host.bridge import describe


def shot_frames(shot) -> dict[str, dict[int, np.ndarray]]:
    """Fusion images of the shot: Source RGBA and a Matte image whose alpha is the matte."""
    source, matte = {}, {}
    for frame in range(shot["first"], shot["last"] + 1):
        source[frame] = support.read_exr(shot["plate"] % frame)
        alpha = support.read_exr(shot["matte"] % frame)[..., 0]
        matte[frame] = np.stack([alpha, alpha, alpha, alpha], -1)
    return {"Source": source, "Matte": matte}


@pytest.fixture
def counted_command(tmp_path, monkeypatch):
    """``E2FGVI_FUSE_COMMAND``: the real ``e2fgvi`` of this checkout, behind a script that counts its runs."""
    log = tmp_path / "runs.log"
    script = tmp_path / "e2fgvi-counted"
    script.write_text(f'#!/bin/sh\necho run >> "{log}"\nexec {support.cli_command()} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("E2FGVI_FUSE_COMMAND", str(script))
    monkeypatch.setenv("PYTHONPATH", str(support.PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return lambda: len(log.read_text().splitlines()) if log.exists() else 0


def fuse_for(shot, server, tmp_path, **kwargs) -> FusionSession:
    session = FusionSession(shot_frames(shot), shot["first"], shot["last"], **kwargs)
    session.set("engine", 3)  # propagate
    session.set("server", server.address)
    session.set("chunk_size", 3)
    session.set("cache", str(tmp_path / "fuse-cache"))
    return session


def test_controls_mirror_the_bridge_parameters():
    session = FusionSession({}, 1, 1)
    controls = session.controls()
    for param in describe()["params"]:
        if param["name"] == "shot":
            assert controls["shot_start"].default == -1 and controls["shot_end"].default == -1
            continue
        control = controls[param["name"]]
        if param["name"] == "colorspace":  # what Fusion's float images in Resolve are, not a scene-linear guess
            assert control.default == "Gamma 2.4 Encoded Rec.709"
        elif param.get("choices"):
            assert list(control["items"].values()) == list(param["choices"])
        elif param["name"] == "matte_channel":
            assert list(control["items"].values()) == ["A", "R", "G", "B"]
        elif param["type"] == "str":
            assert control.default == (param["default"] or "")
        elif param["type"] == "bool":  # Fusion's checkbox: a Number input, 0 or 1
            assert (control.control, control.kind) == ("CheckboxControl", "Number")
            assert control.default == int(param["default"]) and (control.low, control.high) == (0, 1)
        else:
            assert control.default == param["default"]
            assert (control.low, control.high) == (param["minimum"], param["maximum"])
        assert control.label.startswith(param["label"])


def test_chunks_equal_one_whole_e2fgvi_remove_run_and_are_cached(server, shot, tmp_path, counted_command):
    session = fuse_for(shot, server, tmp_path)
    frames = range(shot["first"], shot["last"] + 1)
    rendered = {f: session.render(f) for f in reversed(frames)}  # any order: chunks equal the whole run
    assert counted_command() == 2  # 6 frames, chunks of 3

    ref = tmp_path / "ref"
    done = support.cli_remove(
        "--plate", shot["plate"], "--matte", shot["matte"], "--out", str(ref / "ref.%04d.exr"),
        "--engine", "propagate", "--colorspace", "Gamma 2.4 Encoded Rec.709",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for frame in frames:
        expected = support.read_exr(str(ref / "ref.%04d.exr") % frame)
        np.testing.assert_array_equal(rendered[frame][..., :3], expected[..., :3])
        np.testing.assert_array_equal(rendered[frame][..., 3], session.frames["Source"][frame][..., 3])

    again = FusionSession(shot_frames(shot), shot["first"], shot["last"])  # a new session: Fusion restarted
    for name, value in (("engine", 3), ("server", server.address), ("chunk_size", 3)):
        again.set(name, value)
    again.set("cache", str(tmp_path / "fuse-cache"))
    np.testing.assert_array_equal(again.render(shot["first"] + 4), rendered[shot["first"] + 4])
    assert counted_command() == 2  # served from the chunk cache on disk


def test_regrain_checked_reaches_the_command_and_chunks_equal_one_whole_run(server, tmp_path, counted_command):
    shot = support.make_float_shot(tmp_path / "grainy", grain=0.02)
    session = fuse_for(shot, server, tmp_path)
    assert session.controls()["regrain"].default == 0  # off unless the artist checks it
    session.set("regrain", 1)
    frames = range(shot["first"], shot["last"] + 1)
    rendered = {f: session.render(f) for f in reversed(frames)}
    assert counted_command() == 2  # 6 frames, chunks of 3
    (log,) = (tmp_path / "fuse-cache").glob("*/results/*/remove.1001-1003.log")
    results = log.parent

    flags = ("--matte", shot["matte"], "--engine", "propagate", "--colorspace", "Gamma 2.4 Encoded Rec.709")
    for name, extra in (("regrained", ("--regrain",)), ("plain", ())):
        done = support.cli_remove(
            "--plate", shot["plate"], "--out", str(tmp_path / name / "r.%04d.exr"), *flags, *extra
        )
        assert done.returncode == 0, done.stderr
    for frame in frames:
        assert support.provenance(results / f"clean.{frame:04d}.exr", "regrain") == "true"
        expected = support.read_exr(tmp_path / "regrained" / f"r.{frame:04d}.exr")
        np.testing.assert_array_equal(rendered[frame][..., :3], expected[..., :3])
        hole = support.read_exr(shot["matte"] % frame)[..., 0] > 0
        plain = support.read_exr(tmp_path / "plain" / f"r.{frame:04d}.exr")
        assert support.hole_detail(rendered[frame], hole) > 1.1 * support.hole_detail(plain, hole)
    with pytest.raises(luajit.LuaError, match="holds a Number"):  # as in Fusion, a checkbox holds 0 or 1, not true
        session.set("regrain", True)


def test_changed_input_or_setting_runs_again(server, shot, tmp_path, counted_command):
    session = fuse_for(shot, server, tmp_path)
    first = session.render(shot["first"])
    assert counted_command() == 1
    session.render(shot["first"] + 1)
    assert counted_command() == 1  # same chunk

    session.frames["Source"][shot["first"]][30:34, 40:44, :3] = 0.9  # an upstream change: Fusion asks again
    changed = session.render(shot["first"])
    assert counted_command() == 2
    assert not np.array_equal(changed, first)

    session.set("roi_margin", 8)
    session.render(shot["first"] + 1)
    assert counted_command() == 3


def test_outside_the_shot_the_source_passes_through(server, shot, tmp_path, counted_command):
    session = fuse_for(shot, server, tmp_path)
    session.set("shot_start", shot["first"] + 1)
    np.testing.assert_array_equal(session.render(shot["first"]), session.frames["Source"][shot["first"]])
    assert counted_command() == 0


def test_a_refused_job_gives_one_clear_line(server, shot, tmp_path, counted_command):
    session = fuse_for(shot, server, tmp_path)
    session.set("engine", 1)  # e2fgvi_hq
    session.set("weights", str(tmp_path / "missing.pth"))
    session.set("matte_from", 1)
    session.set("matte_channel", 1)  # R of Source: a matte of every red pixel
    with pytest.raises(luajit.LuaError) as raised:
        session.render(shot["first"])
    message = str(raised.value).splitlines()[0]
    assert f"Remove Object: frames {shot['first']}-{shot['first'] + 2} failed: e2fgvi remove:" in message
    assert "missing.pth" in message
    assert counted_command() == 1
    assert not list((tmp_path / "fuse-cache").glob("*/results/*/clean.*.exr"))


def test_pixels_move_as_whole_images_not_per_pixel_lua(server, shot, tmp_path, counted_command):
    """GetPixel/SetPixel calls must not grow with the frame: a 4K frame is 8.8 million of them."""
    calls = {}
    for size in ((40, 56), (80, 112)):
        big = support.make_float_shot(tmp_path / f"shot{size[0]}", frames=3, size=size)
        session = fuse_for(big, server, tmp_path / f"fuse{size[0]}")
        session.render(big["first"])
        calls[size] = session.standin.pixel_calls
    assert calls[(40, 56)] == calls[(80, 112)] == 0, calls


def test_a_source_with_a_small_data_window_is_written_whole(server, shot, tmp_path, counted_command):
    """Fusion's DoD can be smaller than the frame: the inputs are written frame-sized (zero outside the DoD), so
    Source and matte line up, and the result comes back frame-sized."""
    window = (4, 6, 50, 36)  # left, bottom, right, top (Fusion's y is up)
    session = fuse_for(shot, server, tmp_path, data_windows={"Source": window})
    out = session.render(shot["first"])
    assert out.shape == (40, 56, 4)
    [written] = (tmp_path / "fuse-cache").glob(f"*/inputs/source.{shot['first']:04d}.exr")
    spec = oiio.ImageBuf(str(written)).spec()
    assert (spec.x, spec.y, spec.width, spec.height) == (0, 0, 56, 40)
    pixels = support.read_exr(written)[::-1]  # rows bottom to top, as Fusion counts them
    left, bottom, right, top = window
    np.testing.assert_array_equal(pixels[bottom:top, left:right], shot_frames(shot)["Source"][shot["first"]][::-1][
        bottom:top, left:right
    ])  # fmt: skip
    assert not pixels[:bottom].any() and not pixels[:, right:].any()


def _cmd_c(line: str) -> str:
    """What ``cmd /c LINE`` runs when LINE starts with a quote (cmd /?: the first and the last quote are removed),
    without the ``2>&1`` cmd itself takes care of."""
    if line.startswith('"'):
        last = line.rindex('"')
        line = line[1:last] + line[last + 1 :]
    assert line.endswith(" 2>&1"), line
    return line[: -len(" 2>&1")]


def _command_line_to_argv(line: str) -> list[str]:
    """Windows' CommandLineToArgvW rules: whitespace splits outside quotes; 2n backslashes before a quote are n
    backslashes and the quote toggles quoting, 2n+1 are n and a literal quote; other backslashes are literal."""
    args, current, quoted, i, started = [], [], False, 0, False
    while i < len(line):
        char = line[i]
        if char == "\\":
            n = len(line[i:]) - len(line[i:].lstrip("\\"))
            if i + n < len(line) and line[i + n] == '"':
                current.append("\\" * (n // 2))
                if n % 2:
                    current.append('"')
                    i += n + 1
                else:
                    i += n
                started = True
                continue
            current.append("\\" * n)
            i += n
            started = True
            continue
        if char == '"':
            quoted = not quoted
            started = True
        elif char in " \t" and not quoted:
            if started:
                args.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
        i += 1
    if started:
        args.append("".join(current))
    return args


def test_the_command_line_survives_spaces_and_quotes_on_windows_and_posix():
    """The Fuse builds its command line in one function (Core.command_line); what the shell hands the program must be
    the arguments as they were, with the installed command's path holding spaces."""
    import shlex

    source = FUSE.read_text()
    host_free = source[: source.index(FUSION_API_MARKER)] + "\nreturn Core\n"
    lua = luajit.LuaRuntime(unpack_returned_tuples=True)
    core = lua.execute(host_free)
    args = [
        "remove", "--plate", r"C:\My Shots\plate 01\source.%04d.exr", "--out", "D:\\out dir\\",
        "--weights", 'say "hi"\\', "--server", "tcp://127.0.0.1:5577",
    ]  # fmt: skip
    windows_command = r'"C:\Program Files\e2fgvi\Scripts\e2fgvi.exe"'
    line = core.command_line(windows_command, lua.table_from(args), True)
    argv = _command_line_to_argv(_cmd_c(line))
    assert argv == [r"C:\Program Files\e2fgvi\Scripts\e2fgvi.exe", *args], line

    posix_command = shlex.join(["/opt/e2fgvi env/bin/e2fgvi"])
    line = core.command_line(posix_command, lua.table_from(args), False)
    assert line.endswith(" 2>&1")
    assert shlex.split(line[: -len(" 2>&1")]) == ["/opt/e2fgvi env/bin/e2fgvi", *args]


def _running(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie waiting for its parent has stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(sys.platform == "win32", reason="on Windows the chunk's command runs to its end (documented)")
def test_an_abort_stops_the_running_chunk_and_caches_nothing(server, shot, tmp_path, counted_command):
    """Fusion aborts a request (ESC, a changed control) by setting self.Status: the chunk's command stops at once,
    no result is cached, and the next render runs the chunk again."""
    session = fuse_for(shot, server, tmp_path)
    session.standin.aborted = lambda: counted_command() >= 1  # ESC once the chunk's command has started
    assert session.standin.render(shot["first"]) is None  # no output for an aborted request
    [pid_file] = (tmp_path / "fuse-cache").glob("*/results/*/remove.*.log.pid")
    pid = int(pid_file.read_text())
    assert wait_until(lambda: not _running(pid), 30), "the chunk's command still runs"
    assert not list((tmp_path / "fuse-cache").glob("*/results/*/clean.*.exr"))

    session.standin.aborted = lambda: False
    out = session.render(shot["first"])
    assert counted_command() == 2 and out.shape == (40, 56, 4)


def test_exrio_writes_need_no_unconfirmed_constant_and_stay_float(server, shot, tmp_path, counted_command):
    """Only ``ANY_TYPE`` is confirmed to exist in Fusion (docs/hosts.md, the Fuse's EXRIO calls): the stand-in has no
    ``FLOAT_TYPE`` and refuses a nil sample type, so a Fuse that needs one fails here; what it writes is still 32-bit
    float RGBA, frame-sized, through the part number ``Part`` returned."""
    session = fuse_for(shot, server, tmp_path)
    assert session.lua.eval("FLOAT_TYPE") is None and session.lua.eval("ANY_TYPE") is not None
    session.render(shot["first"])
    [written] = (tmp_path / "fuse-cache").glob(f"*/inputs/source.{shot['first']:04d}.exr")
    spec = oiio.ImageBuf(str(written)).spec()
    assert spec.format == oiio.FLOAT and tuple(spec.channelnames) == ("R", "G", "B", "A")
    assert (spec.width, spec.height) == (56, 40)
