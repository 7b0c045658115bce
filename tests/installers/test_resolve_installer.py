"""``e2fgvi install resolve`` against temporary homes: the documented Fusion folders per OS and app, idempotent,
exact uninstall, dry run; the installed Fuse carries the command, and the installed launcher runs from its own
vendored files against the ``DaVinciResolveScript`` stand-in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2fgvi_core.testing import run_e2fgvi

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STANDINS = PROJECT_ROOT / "tests" / "standins"


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``e2fgvi ARGS``; installs skip the wheels (test_self_contained_installs.py covers them)."""
    extra = ["--skip-dependencies"] if args[0] == "install" else []
    return run_e2fgvi([*args, *extra], env["HOME"], env)


@pytest.mark.parametrize(
    "platform,env_of,resolve_root,fusion_root",
    [
        (
            "linux",
            lambda h: {"XDG_DATA_HOME": str(h / "share")},
            "share/DaVinciResolve/Fusion",
            ".fusion/BlackmagicDesign/Fusion",
        ),
        (
            "macos",
            lambda h: {},
            "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion",
            "Library/Application Support/Blackmagic Design/Fusion",
        ),
        (
            "windows",
            lambda h: {"USERPROFILE": str(h), "APPDATA": str(h / "AppData" / "Roaming")},
            "AppData/Roaming/Blackmagic Design/DaVinci Resolve/Support/Fusion",
            "AppData/Roaming/Blackmagic Design/Fusion",
        ),
    ],
)
def test_install_reinstall_uninstall_and_dry_run(tmp_path, platform, env_of, resolve_root, fusion_root):
    home = tmp_path / "home"
    env = {"HOME": str(home), **env_of(home)}
    user_fuse = home / resolve_root / "Fuses" / "Theirs.fuse"  # Resolve has run: the user's own Fuse is there
    user_fuse.parent.mkdir(parents=True)
    user_fuse.write_text("-- someone else's fuse\n")
    before = snapshot(home)
    args = ("--app", "both", "--platform", platform, "--command", "/opt/e2fgvi/bin/e2fgvi")

    dry = run_cli("install", "resolve", "--dry-run", *args, env=env)
    assert dry.returncode == 0, dry.stderr
    assert snapshot(home) == before
    for root in (resolve_root, fusion_root):
        assert f"would write {home / root / 'Fuses' / 'E2fgviRemoveObject.fuse'}" in dry.stdout
    assert f"would write {home / resolve_root / 'Scripts' / 'Edit' / 'E2FGVI Remove Object.py'}" in dry.stdout

    done = run_cli("install", "resolve", *args, env=env)
    assert done.returncode == 0, done.stderr
    for root in (resolve_root, fusion_root):
        fuse = (home / root / "Fuses" / "E2fgviRemoveObject.fuse").read_text()
        assert "local E2FGVI_COMMAND = [==[/opt/e2fgvi/bin/e2fgvi]==]" in fuse
        assert 'FuRegisterClass("E2fgviRemoveObject"' in fuse
    assert not (home / fusion_root / "Scripts").exists()  # the Studio script is Resolve's alone
    installed = snapshot(home)

    again = run_cli("install", "resolve", *args, env=env)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert snapshot(home) == installed

    gone = run_cli("uninstall", "resolve", "--platform", platform, env=env)
    assert gone.returncode == 0, gone.stderr
    assert snapshot(home) == before


def test_installed_launcher_runs_from_its_vendored_copy(tmp_path):
    home, target = tmp_path / "home", tmp_path / "fusion"
    home.mkdir()
    done = run_cli("install", "resolve", "--target", str(target), env={"HOME": str(home)})
    assert done.returncode == 0, done.stderr
    fuse = (target / "Fuses" / "E2fgviRemoveObject.fuse").read_text()
    assert "e2fgvi" in fuse.split("local E2FGVI_COMMAND = [==[", 1)[1].split("]==]", 1)[0]

    launcher = target / "Scripts" / "Edit" / "E2FGVI Remove Object.py"
    check = (
        "import runpy, sys\n"
        f"runpy.run_path({str(launcher)!r})\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'cv2'))\n"
        "print(heavy, sys.modules['e2fgvi_host.resolve.resolve_script'].__file__)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", check], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(STANDINS)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert ran.stderr.strip() == "Remove Object: no clip under the playhead: park the playhead on the plate"
    heavy, module_file = ran.stdout.split()
    assert heavy == "[]" and module_file.startswith(str(target / "e2fgvi_remove_object" / "_vendor"))

    gone = run_cli("uninstall", "resolve", "--target", str(target), env={"HOME": str(home)})
    assert gone.returncode == 0, gone.stderr
    assert snapshot(target) == {}


def test_bad_app_is_one_line(tmp_path):
    done = run_cli("install", "resolve", "--app", "premiere", env={"HOME": str(tmp_path)})
    assert done.returncode != 0 and "invalid choice: 'premiere'" in done.stderr
