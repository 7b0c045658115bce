"""The installer machinery and the service installer against temporary home folders (nothing outside is touched).

Each test snapshots the home folder byte for byte: install, install again (no change), uninstall (as before),
dry run (nothing written). ``systemctl``/``launchctl``/``schtasks`` are never run: their commands are printed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from e2fgvi_installers import _framework as fw

from e2fgvi_core.testing import run_e2fgvi

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under ``root``."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def home_env(home: Path, platform: str) -> dict[str, str]:
    env = {"HOME": str(home)}
    if platform == "linux":
        env["XDG_CONFIG_HOME"] = str(home / "cfg")
        env["XDG_DATA_HOME"] = str(home / "data")
    if platform == "windows":
        env["USERPROFILE"] = str(home)
        env["APPDATA"] = str(home / "AppData" / "Roaming")
    return env


def ctx_for(home: Path, platform: str = "linux", dry_run: bool = False, lines: list | None = None) -> fw.InstallContext:
    return fw.InstallContext(
        platform, home_env(home, platform), None, dry_run, (lines if lines is not None else []).append
    )


@pytest.mark.parametrize("original", ["", "import os\n", "x = 1", "a\n\n# >>> not ours\n"])
def test_guarded_block_round_trips_byte_for_byte(tmp_path, original):
    home = tmp_path / "home"
    user_file = home / ".nuke" / "init.py"
    if original:
        user_file.parent.mkdir(parents=True)
        user_file.write_text(original)
    before = snapshot(home) if home.exists() else {}
    block = fw.GuardedBlock(user_file, "nuke", "import e2fgvi_nuke\n")
    ctx = ctx_for(home)
    assert fw.install(ctx, "nuke", [block]) == 1
    text = user_file.read_text()
    assert text.startswith(original) and text.count(block.begin) == 1 and text.endswith(block.end + "\n")
    if original:
        assert (user_file.parent / ("init.py" + fw.BACKUP_SUFFIX)).read_text() == original
    after_first = snapshot(home)
    assert fw.install(ctx, "nuke", [block]) == 0  # idempotent
    assert snapshot(home) == after_first
    newer = fw.GuardedBlock(user_file, "nuke", "import e2fgvi_nuke  # v2\n")
    assert fw.install(ctx, "nuke", [newer]) == 1  # replaced in place, never twice
    assert user_file.read_text().count(block.begin) == 1 and "v2" in user_file.read_text()
    fw.uninstall(ctx, "nuke")
    assert (snapshot(home) if home.exists() else {}) == before


def test_uninstall_keeps_what_the_user_added_since(tmp_path):
    home = tmp_path / "home"
    user_file = home / "menu.py"
    home.mkdir()
    user_file.write_text("mine = 1\n")
    ctx = ctx_for(home)
    fw.install(ctx, "nuke", [fw.GuardedBlock(user_file, "nuke", "ours = 2\n")])
    user_file.write_text(user_file.read_text() + "mine_later = 3\n")
    fw.uninstall(ctx, "nuke")
    assert user_file.read_text() == "mine = 1\nmine_later = 3\n"
    assert (home / ("menu.py" + fw.BACKUP_SUFFIX)).read_text() == "mine = 1\n"  # kept: the file changed since


def test_dry_run_writes_nothing_and_prints_every_change(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "init.py").write_text("x = 1\n")
    before = snapshot(home)
    lines: list[str] = []
    changes = [fw.WriteFile(home / "a" / "b.txt", b"hello"), fw.GuardedBlock(home / "init.py", "t", "y = 2")]
    assert fw.install(ctx_for(home, dry_run=True, lines=lines), "t", changes) == 2
    assert snapshot(home) == before
    assert lines == [
        f"would write {home / 'a' / 'b.txt'} (5 bytes)",
        f"would add the e2fgvi t block to {home / 'init.py'}",
    ]


def test_an_unwritable_target_is_a_one_line_error(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "blocker").write_text("a file where a folder must go")
    with pytest.raises(fw.OutputError, match="cannot write"):
        fw.install(ctx_for(home), "t", [fw.WriteFile(home / "blocker" / "x.txt", b"x")])


def run_cli(*args: str, home: Path, platform: str) -> subprocess.CompletedProcess:
    return run_e2fgvi([*args, "--platform", platform], home, home_env(home, platform))


@pytest.mark.parametrize(
    "platform,relative,command",
    [
        ("linux", "cfg/systemd/user/e2fgvi-server.service", "systemctl --user enable --now e2fgvi-server.service"),
        ("macos", "Library/LaunchAgents/org.e2fgvi.server.plist", "launchctl bootstrap gui/"),
        ("windows", "AppData/Roaming/e2fgvi/e2fgvi-server-service.cmd", "schtasks /Create /TN e2fgvi-server"),
    ],
)
def test_service_install_reinstall_uninstall_dry_run(tmp_path, platform, relative, command):
    home = tmp_path / "home"
    (home / "keep").mkdir(parents=True)
    (home / "keep" / "note.txt").write_text("the user's")
    before = snapshot(home)
    args = ("install", "service", "--bind", "tcp://127.0.0.1:6001", "--device", "cpu", "--output-root", str(home))
    dry = run_cli(*args, "--dry-run", home=home, platform=platform)
    assert dry.returncode == 0, dry.stderr
    assert snapshot(home) == before and f"would write {home / relative}" in dry.stdout and command in dry.stdout

    done = run_cli(*args, home=home, platform=platform)
    assert done.returncode == 0, done.stderr
    written = (home / relative).read_bytes()
    assert b"tcp://127.0.0.1:6001" in written and b"--device" in written and str(home).encode() in written
    assert f"next, run: {command}" in done.stdout  # printed, not run (no --enable)
    installed = snapshot(home)

    again = run_cli(*args, home=home, platform=platform)
    assert again.returncode == 0 and "already installed, nothing to change" in again.stdout
    assert snapshot(home) == installed

    gone = run_cli("uninstall", "service", home=home, platform=platform)
    assert gone.returncode == 0, gone.stderr
    assert snapshot(home) == before


def test_unknown_host_is_a_one_line_error(tmp_path):
    done = run_cli("install", "maya", home=tmp_path, platform="linux")
    assert done.returncode == 2 and "invalid choice: 'maya'" in done.stderr and "blender" in done.stderr


def test_installs_write_through_the_projects_one_atomic_writer(tmp_path, monkeypatch):
    """One way to write atomically (``e2fgvi_core.atomic_files``): every file and the receipt go through it, with
    the change's mode, and an interrupted write leaves the old file and no temp file behind."""
    from e2fgvi_core import atomic_files

    written = []

    def recording(path, write):
        written.append(Path(path))
        return atomic_files.write_atomic(path, write)

    monkeypatch.setattr(fw, "write_atomic", recording)  # the real writer, watched
    home = tmp_path / "home"
    ctx = ctx_for(home)
    tool = home / "bin" / "tool"
    assert fw.install(ctx, "t", [fw.WriteFile(tool, b"#!/bin/sh\n", 0o755)]) == 1
    assert written == [tool, ctx.receipt_path("t")]
    assert tool.stat().st_mode & 0o777 == 0o755 and tool.read_bytes() == b"#!/bin/sh\n"

    def interrupted(path, write):
        def write_then_fail(temp):
            write(temp)
            raise OSError(28, "No space left on device")

        return atomic_files.write_atomic(path, write_then_fail)

    monkeypatch.setattr(fw, "write_atomic", interrupted)
    with pytest.raises(fw.OutputError, match="cannot write .*tool: No space left on device"):
        fw.install(ctx, "t", [fw.WriteFile(tool, b"#!/bin/sh\necho new\n", 0o755)])
    assert tool.read_bytes() == b"#!/bin/sh\n"
    assert sorted(p.name for p in tool.parent.iterdir()) == ["tool"]  # no temp file left


def test_the_installer_machinery_loads_nothing_heavy():
    """The installers run in any Python the package is installed in: the atomic writer they share with the farm
    and the server must not pull torch, numpy or OpenImageIO in."""
    import sys

    code = (
        "import sys, e2fgvi_installers._framework\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'OpenImageIO', 'cv2')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
