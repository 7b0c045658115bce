"""The *Remove Object* Fuse, run in real LuaJIT 2.1 (lupa) with a stand-in of Fusion's Fuse API, against a real
``e2fgvi-server`` through the real ``e2fgvi remove --server`` command it starts as an external process."""

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

from e2fgvi_host.bridge import describe

FUSE = support.PROJECT_ROOT / "host_plugin" / "resolve" / "RemoveObject.fuse"
STANDIN = support.PROJECT_ROOT / "tests" / "standins" / "fusion" / "fusion_standin.lua"


class FusionSession:
    """One LuaJIT state with the Fuse API stand-in and the Fuse loaded; frames come from numpy arrays."""

    def __init__(self, frames: dict[str, dict[int, np.ndarray]], first: int, last: int) -> None:
        self.frames = frames
        self.lua = luajit.LuaRuntime(unpack_returned_tuples=True, encoding="latin-1")
        assert "LuaJIT 2.1" in self.lua.eval("jit.version")
        self.lua.execute(STANDIN.read_text())
        self.standin = self.lua.globals().Standin
        self.standin.host_frame = self._host_frame
        self.standin.comp_start, self.standin.comp_end = first, last
        self.standin.load(FUSE.read_text())

    def _host_frame(self, name: str, frame: float):
        image = self.frames.get(name, {}).get(int(frame))
        if image is None:
            return None
        rows_up = np.ascontiguousarray(image[::-1], dtype=np.float32)  # Fusion's (0, 0) is the bottom left
        return image.shape[1], image.shape[0], rows_up.tobytes()

    def set(self, name: str, value) -> None:
        self.standin.set(name, value)

    def render(self, frame: int) -> np.ndarray:
        width, height, data = self.standin.render(frame)  # latin-1: Lua's byte string, one char per byte
        return np.frombuffer(data.encode("latin-1"), np.float32).reshape(height, width, 4)[::-1]

    def controls(self) -> dict[str, dict]:
        return {c.name: c for c in self.standin.controls().values()}


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


def fuse_for(shot, server, tmp_path) -> FusionSession:
    session = FusionSession(shot_frames(shot), shot["first"], shot["last"])
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
        if param.get("choices"):
            assert list(control["items"].values()) == list(param["choices"])
        elif param["name"] == "matte_channel":
            assert list(control["items"].values()) == ["A", "R", "G", "B"]
        elif param["type"] == "str":
            assert control.default == (param["default"] or "")
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
        "--engine", "propagate",
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
    assert not list((tmp_path / "fuse-cache").glob("*/results/*/clean.*.pfm"))
