"""``e2fgvi install ofx`` / ``uninstall ofx`` against temporary homes, and the installed bundle loaded by the test host:
it starts a server from the command the installer recorded when none answers."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
from e2fgvi_installers import ofx
from e2fgvi_installers._framework import InstallContext
from ofx_host import STAT_OK, Host
from ofx_support import FIRST, SHOT, frames_of

from e2fgvi_core.testing import free_address, run_e2fgvi, wait_until
from e2fgvi_host.client import Client

BUNDLE_BINARY = Path("RemoveObject.ofx.bundle/Contents/Linux-x86-64/RemoveObject.ofx")


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def run_cli(*args: str, home: Path):
    return run_e2fgvi(list(args), home, {"XDG_DATA_HOME": str(home / "data")})


def test_install_reinstall_uninstall_and_dry_run(plugin_binary, tmp_path):
    home, target = tmp_path / "home", tmp_path / "ofx"
    home.mkdir()
    dry = run_cli("install", "ofx", "--target", str(target), "--dry-run", home=home)
    assert dry.returncode == 0, dry.stderr
    assert not target.exists() and f"would write {target / BUNDLE_BINARY}" in dry.stdout
    done = run_cli("install", "ofx", "--target", str(target), home=home)
    assert done.returncode == 0, done.stderr
    assert "OFX_PLUGIN_PATH" in done.stdout
    installed = target / BUNDLE_BINARY
    assert installed.read_bytes() == plugin_binary.read_bytes() and os.access(installed, os.X_OK)
    assert (installed.parent / "libzmq.so.5").is_file()  # found through $ORIGIN: hosts do not ship it
    recorded = (target / "RemoveObject.ofx.bundle" / ofx.SERVER_COMMAND_FILE).read_text()
    assert "e2fgvi" in recorded
    after = snapshot(target)
    again = run_cli("install", "ofx", "--target", str(target), home=home)
    assert again.returncode == 0 and "nothing to change" in again.stdout and snapshot(target) == after
    gone = run_cli("uninstall", "ofx", "--target", str(target), home=home)
    assert gone.returncode == 0, gone.stderr
    assert not (target / "RemoveObject.ofx.bundle").exists()


def test_the_system_folder_when_writable_else_a_user_folder_on_ofx_plugin_path(tmp_path, monkeypatch):
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    monkeypatch.setitem(ofx.SYSTEM_FOLDERS, "linux", tmp_path / "usr" / "OFX" / "Plugins")
    assert ofx.plugin_folder(InstallContext("linux", env)) == (tmp_path / "usr" / "OFX" / "Plugins", False)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setitem(ofx.SYSTEM_FOLDERS, "linux", blocked / "OFX" / "Plugins")
    assert ofx.plugin_folder(InstallContext("linux", env)) == (home / "data" / "OFX" / "Plugins", True)
    assert ofx.user_folder(InstallContext("macos", env)) == home / "Library" / "OFX" / "Plugins"


def test_the_installed_plugin_starts_the_recorded_server_when_none_answers(plugin_binary, tmp_path, monkeypatch, shot):
    home, target = tmp_path / "home", tmp_path / "ofx"
    home.mkdir()
    assert run_cli("install", "ofx", "--target", str(target), home=home).returncode == 0
    monkeypatch.delenv("E2FGVI_SERVER_COMMAND", raising=False)
    address = free_address()
    host = Host(target / BUNDLE_BINARY)
    host.load()
    effect = host.create_instance(
        "OfxImageEffectContextGeneral",
        {
            "Source": (frames_of(shot, "plate.%04d.exr"), (FIRST, FIRST + 11)),
            "Matte": (frames_of(shot, "matte.%04d.exr"), (FIRST, FIRST + 11)),
        },
    )
    for name, value in {"engine": "propagate", "shot": SHOT, "server": address, "chunk_size": 4}.items():
        host.set_param(effect, name, value)
    try:
        status, image = host.render(effect, FIRST + 2)
        assert status == STAT_OK, host.messages
        assert np.isfinite(image.astype(np.float32)).all()
    finally:
        with Client(address, retries=0) as client:
            pid = int(client.hello(timeout_s=10)["pid"])
        os.kill(pid, signal.SIGTERM)
        assert wait_until(lambda: not Path(f"/proc/{pid}").exists() or _zombie(pid), 30)
    host.destroy(effect)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True
