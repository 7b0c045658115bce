"""``e2fgvi install blender`` against temporary homes: per-OS folders, idempotent, exact uninstall, dry run."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from e2fgvi_core.testing import run_e2fgvi
from installers.blender import host_side_files

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``e2fgvi ARGS``; installs skip the wheels (test_self_contained_installs.py covers them)."""
    extra = ["--skip-dependencies"] if args[0] == "install" else []
    return run_e2fgvi([*args, *extra], env["HOME"], env)


@pytest.mark.parametrize(
    "platform,env_of,extensions",
    [
        ("linux", lambda h: {"XDG_CONFIG_HOME": str(h / "xdg")}, "xdg/blender/{v}/extensions/user_default"),
        ("macos", lambda h: {}, "Library/Application Support/Blender/{v}/extensions/user_default"),
        (
            "windows",
            lambda h: {"USERPROFILE": str(h), "APPDATA": str(h / "AppData" / "Roaming")},
            "AppData/Roaming/Blender Foundation/Blender/{v}/extensions/user_default",
        ),
    ],
)
def test_install_reinstall_uninstall_and_dry_run(tmp_path, platform, env_of, extensions):
    home = tmp_path / "home"
    env = {"HOME": str(home), **env_of(home)}
    # Blender has run before: its 4.4 (older than blender_version_min) and 5.0 folders exist, with the user's config.
    old, current = home / extensions.format(v="4.4"), home / extensions.format(v="5.0")
    for folder in (old, current):
        folder.mkdir(parents=True)
    (current.parent.parent / "config").mkdir()
    (current.parent.parent / "config" / "userpref.blend").write_bytes(b"BLENDER-user-prefs")
    before = snapshot(home)

    dry = run_cli("install", "blender", "--dry-run", "--platform", platform, env=env)
    assert dry.returncode == 0, dry.stderr
    assert snapshot(home) == before
    assert f"would write {current / 'e2fgvi_remove_object' / 'blender_manifest.toml'}" in dry.stdout

    done = run_cli("install", "blender", "--platform", platform, env=env)
    assert done.returncode == 0, done.stderr
    addon = current / "e2fgvi_remove_object"
    assert (addon / "blender_manifest.toml").read_text().startswith('schema_version = "1.0.0"')
    vendored = sorted(p.relative_to(addon / "_vendor").parts[0] for p in (addon / "_vendor").iterdir())
    # the host side only, under unique names, and the commands of the installation that installed it
    assert vendored == ["e2fgvi_commands.json", "e2fgvi_core", "e2fgvi_host", "e2fgvi_server"]
    assert sorted(p.name for p in (addon / "_vendor" / "e2fgvi_server").iterdir()) == ["__init__.py", "protocol.py"]
    core = {p.relative_to(addon / "_vendor").as_posix() for p in (addon / "_vendor" / "e2fgvi_core").rglob("*.py")}
    assert core == {name for name in host_side_files() if name.startswith("e2fgvi_core/")}  # what the host imports
    assert not (addon / "_vendor" / "e2fgvi_host" / "nuke").exists() and not list(old.iterdir())
    installed = snapshot(home)

    again = run_cli("install", "blender", "--platform", platform, env=env)
    assert again.returncode == 0 and "already installed, nothing to change" in again.stdout
    assert snapshot(home) == installed

    gone = run_cli("uninstall", "blender", "--platform", platform, env=env)
    assert gone.returncode == 0, gone.stderr
    assert snapshot(home) == before


def test_target_and_zip(tmp_path):
    env = {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config")}
    target, zip_path = tmp_path / "studio" / "extensions", tmp_path / "dist" / "e2fgvi_remove_object.zip"
    done = run_cli("install", "blender", "--target", str(target), "--zip", str(zip_path), env=env)
    assert done.returncode == 0, done.stderr
    names = zipfile.ZipFile(io.BytesIO(zip_path.read_bytes())).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert sorted(names) == sorted(
        str(p.relative_to(target / "e2fgvi_remove_object").as_posix())
        for p in (target / "e2fgvi_remove_object").rglob("*")
        if p.is_file()
    )
    first = zip_path.read_bytes()
    assert run_cli("install", "blender", "--target", str(target), "--zip", str(zip_path), env=env).returncode == 0
    assert zip_path.read_bytes() == first  # deterministic: same sources, same zip
    assert run_cli("uninstall", "blender", "--target", str(target), env=env).returncode == 0
    assert not (tmp_path / "studio").exists() and not (tmp_path / "dist").exists()


def test_a_bad_version_is_a_one_line_error(tmp_path):
    done = run_cli("install", "blender", "--blender-version", "five", env={"HOME": str(tmp_path)})
    assert done.returncode == 2
    assert done.stderr.strip() == "e2fgvi install: error: --blender-version must look like 5.0, got 'five'"
    too_old = run_cli("install", "blender", "--blender-version", "4.2", env={"HOME": str(tmp_path)})
    assert too_old.returncode == 2 and "needs Blender 5.0 or newer" in too_old.stderr
    assert not (tmp_path / ".config").exists()
