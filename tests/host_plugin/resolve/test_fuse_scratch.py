"""The Fuse's default cache (inputs it renders out, results it reads back) is this user's own folder, made 0700,
never the shared temp dir where another user could read the frames or plant a link the next render writes through.
Run in real LuaJIT (lupa) with the Fusion stand-in against a real server."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "standins"))

import host_test_support as support
from fusion_session import FusionSession


def test_the_default_cache_is_private_and_outside_the_shared_temp_dir(server, shot, tmp_path, monkeypatch):
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

    frames = {"Source": {}, "Matte": {}}
    for frame in range(shot["first"], shot["last"] + 1):
        frames["Source"][frame] = support.read_exr(shot["plate"] % frame)
        alpha = support.read_exr(shot["matte"] % frame)[..., 0]
        frames["Matte"][frame] = np.stack([alpha] * 4, -1)

    session = FusionSession(frames, shot["first"], shot["last"])  # EXRIO's files through OpenImageIO
    standin = session.standin
    for name, value in (("engine", 3), ("server", server.address), ("chunk_size", 3)):  # no cache folder set
        standin.set(name, value)
    standin.render(shot["first"])

    cache = home / ".cache" / "e2fgvi" / "fuse"
    assert any(p.is_file() for p in cache.rglob("*")), "the default cache holds the chunk"
    for folder in [cache, *(p for p in cache.rglob("*") if p.is_dir())]:
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert not list(shared_temp.iterdir())
