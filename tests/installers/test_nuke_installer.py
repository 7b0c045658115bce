"""``e2fgvi install nuke`` against temporary homes: a user's init.py kept, idempotent, exact uninstall, dry run, and
the installed folder loads in (a stand-in of) Nuke from its own vendored files alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from e2fgvi_core.testing import run_e2fgvi
from installers.blender import host_side_files

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STANDINS = PROJECT_ROOT / "tests" / "standins"
USER_INIT = "import nuke\nnuke.knobDefault('Blur.size', '3')\n"


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    """``e2fgvi ARGS``; installs skip the wheels (test_self_contained_installs.py covers them)."""
    extra = ["--skip-dependencies"] if args[0] == "install" else []
    return run_e2fgvi([*args, *extra], home, {"XDG_DATA_HOME": str(home / "data")})


def test_install_reinstall_uninstall_and_dry_run(tmp_path):
    home = tmp_path / "home"
    (home / ".nuke").mkdir(parents=True)
    (home / ".nuke" / "init.py").write_text(USER_INIT)
    before = snapshot(home)
    plugin = home / ".nuke" / "e2fgvi_remove_object"

    dry = run_cli("install", "nuke", "--dry-run", "--platform", "linux", home=home)
    assert dry.returncode == 0, dry.stderr
    assert snapshot(home) == before
    assert f"would write {plugin / 'menu.py'}" in dry.stdout
    assert f"would add the e2fgvi nuke block to {home / '.nuke' / 'init.py'}" in dry.stdout

    done = run_cli("install", "nuke", "--platform", "linux", home=home)
    assert done.returncode == 0, done.stderr
    init = (home / ".nuke" / "init.py").read_text()
    assert init.startswith(USER_INIT) and init.count(f"nuke.pluginAddPath({str(plugin)!r})") == 1
    assert (home / ".nuke" / "init.py.e2fgvi-backup").read_text() == USER_INIT
    vendored = {p.relative_to(plugin).as_posix() for p in plugin.rglob("*.py")}
    assert {
        "init.py",
        "menu.py",
        "_vendor/e2fgvi_host/nuke/node.py",
        "_vendor/e2fgvi_host/bridge/effect.py",
    } <= vendored
    core = {name for name in vendored if name.startswith("_vendor/e2fgvi_core/")}
    # the torch-free core the host side imports (docs/architecture.md), no more; loading it stays light (below)
    assert core == {f"_vendor/{name}" for name in host_side_files() if name.startswith("e2fgvi_core/")}
    assert not any("/blender/" in name or "/resolve/" in name for name in vendored)
    installed = snapshot(home)

    again = run_cli("install", "nuke", "--platform", "linux", home=home)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    assert snapshot(home) == installed

    gone = run_cli("uninstall", "nuke", "--platform", "linux", home=home)
    assert gone.returncode == 0, gone.stderr
    assert snapshot(home) == before


def test_target_nuke_path_folder_and_the_folder_loads_alone(tmp_path):
    home, target = tmp_path / "home", tmp_path / "studio" / "nuke_path"
    home.mkdir()
    target.mkdir(parents=True)
    done = run_cli("install", "nuke", "--target", str(target), home=home)
    assert done.returncode == 0, done.stderr
    assert (target / "init.py").is_file() and not (home / ".nuke").exists()

    # What Nuke does at start-up, with only the stand-in of `nuke` and the installed folder importable:
    # run the user's init.py (our block adds the plug-in folder), then the folder's init.py and menu.py.
    start_up = f"""
import runpy, sys
import nuke
runpy.run_path({str(target / "init.py")!r})
for folder in nuke.standin.plugin_paths:
    runpy.run_path(folder + "/init.py")
    runpy.run_path(folder + "/menu.py")
item = nuke.menu("Nodes").findItem("E2FGVI/Remove Object")
node = item["command"]()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "cv2"))  # never in a host (OIIO: the stand-in's)
print(item["shortcut"], node["engine"].value(), heavy, sys.modules["e2fgvi_host.nuke.node"].__file__)
"""
    loaded = subprocess.run(
        [sys.executable, "-c", start_up], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(STANDINS)},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    shortcut, engine, heavy, module_file = loaded.stdout.split()
    assert (shortcut, engine, heavy) == ("shift+alt+r", "auto", "[]")
    assert module_file.startswith(str(target / "e2fgvi_remove_object" / "_vendor"))

    gone = run_cli("uninstall", "nuke", "--target", str(target), home=home)
    assert gone.returncode == 0, gone.stderr
    assert snapshot(target) == {}
