"""The Fuse's default cache (inputs it renders out, results it reads back) is this user's own folder, as the Python
side names it (``e2fgvi_core.user_dirs``, platformdirs), written into the Fuse by ``e2fgvi install resolve`` and made
0700: never the shared temp dir where another user could read the frames or plant a link the next render writes
through, and no second per-OS list of folders in Lua. Run in real LuaJIT (lupa) with the Fusion stand-in: the Fuse
the installer wrote, against a real server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import lupa.luajit21 as luajit
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "standins"))

import host_test_support as support
from fusion_session import FusionSession

from e2fgvi_core.testing import run_e2fgvi


def shot_frames(shot) -> dict[str, dict[int, np.ndarray]]:
    frames = {"Source": {}, "Matte": {}}
    for frame in range(shot["first"], shot["last"] + 1):
        frames["Source"][frame] = support.read_exr(shot["plate"] % frame)
        alpha = support.read_exr(shot["matte"] % frame)[..., 0]
        frames["Matte"][frame] = np.stack([alpha] * 4, -1)
    return frames


@pytest.fixture
def user_home(tmp_path, monkeypatch):
    """A user whose home is ``tmp_path/home`` (no XDG cache variable), with a shared temp dir beside it."""
    from e2fgvi_server import protocol

    monkeypatch.setenv(protocol.ACCESS_KEY_FILE_ENV, protocol.default_access_key_file())  # the server's key stays
    home, shared_temp = tmp_path / "home", tmp_path / "shared-tmp"
    home.mkdir()
    shared_temp.mkdir()
    for name, value in (("HOME", home), ("TMPDIR", shared_temp), ("TEMP", shared_temp), ("TMP", shared_temp)):
        monkeypatch.setenv(name, str(value))
    for name in ("XDG_CACHE_HOME", "E2FGVI_FUSE_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("E2FGVI_FUSE_COMMAND", support.cli_command())
    monkeypatch.setenv("PYTHONPATH", str(support.PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return home, shared_temp


def test_the_installed_fuse_caches_in_the_users_private_folder(server, shot, tmp_path, user_home):
    from e2fgvi_core.user_dirs import user_cache_dir

    home, shared_temp = user_home
    fusion = tmp_path / "fusion"
    done = run_e2fgvi(["install", "resolve", "--app", "fusion", "--target", str(fusion), "--skip-dependencies"], home)
    assert done.returncode == 0, done.stderr
    installed = fusion / "Fuses" / "E2fgviRemoveObject.fuse"
    expected = user_cache_dir() / "fuse"  # platformdirs for this user: ~/.cache/e2fgvi/fuse on Linux
    if sys.platform == "linux":
        assert expected == home / ".cache" / "e2fgvi" / "fuse"
    assert f"local DEFAULT_CACHE = [==[{expected}]==]" in installed.read_text()

    session = FusionSession(shot_frames(shot), shot["first"], shot["last"], fuse=installed)
    for name, value in (("engine", 3), ("server", server.address), ("chunk_size", 3)):  # no cache folder set
        session.set(name, value)
    out = session.render(shot["first"])
    assert out.shape == (40, 56, 4)

    assert any(p.is_file() for p in expected.rglob("clean.*.exr")), "the default cache holds the chunk"
    for folder in [expected, *(p for p in expected.rglob("*") if p.is_dir())]:
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert not list(shared_temp.iterdir())


def test_a_fuse_that_was_not_installed_asks_for_a_cache_folder(server, shot, user_home):
    """No per-OS guess in Lua: without the installer's folder, the control or E2FGVI_FUSE_CACHE, one clear line."""
    home, shared_temp = user_home
    session = FusionSession(shot_frames(shot), shot["first"], shot["last"])  # the checkout's Fuse, not installed
    for name, value in (("engine", 3), ("server", server.address)):
        session.set(name, value)
    with pytest.raises(luajit.LuaError) as raised:
        session.render(shot["first"])
    message = str(raised.value).splitlines()[0]
    assert "Remove Object: no cache folder: set the Cache folder control" in message
    assert "e2fgvi install resolve" in message
    assert not list(home.rglob("*.exr")) and not list(shared_temp.iterdir())


def test_an_install_for_another_platform_writes_no_guessed_cache(tmp_path, user_home):
    """``--platform`` for another OS: that user's cache folder is not known here, so none is written (the Fuse then
    asks for its Cache folder control) rather than this machine's folder or a guess."""
    home, _ = user_home
    other = "windows" if sys.platform != "win32" else "linux"
    target = tmp_path / "fusion"
    args = ["install", "resolve", "--app", "fusion", "--target", str(target), "--platform", other]
    done = run_e2fgvi([*args, "--skip-dependencies"], home)
    assert done.returncode == 0, done.stderr
    assert 'local DEFAULT_CACHE = ""' in (target / "Fuses" / "E2fgviRemoveObject.fuse").read_text()
