"""Each host installed into a temporary home with no zmq or msgpack importable but what the installer placed:
the host side loads from the install and talks to a real server (Blender: the extension enabled in real bpy), and
auto-start runs the ``e2fgvi-server`` the installer recorded, never the host's own executable."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from e2fgvi_core.testing import ServerProcess, free_address, run_e2fgvi
from e2fgvi_host.launcher import SERVER_PROGRAM, installation_commands
from e2fgvi_server import protocol as wire

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STANDINS = PROJECT_ROOT / "tests" / "standins"
PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"

# Run in the host's Python after its start-up: what it imports comes from where, and a real server answers;
# then auto-start on a free address runs the recorded e2fgvi-server (stopped again at once).
TALK = """
import json, os, sys
import msgpack, zmq
from e2fgvi_host import launcher
from e2fgvi_host.client import Client
with Client(ADDRESS, heartbeat_interval_s=0.5) as client:
    hello = client.hello(timeout_s=60)
started = launcher.ensure_local_server(SPARE, timeout_s=240)
started.terminate()
started.wait(60)
print(json.dumps({
    "zmq": zmq.__file__, "msgpack": msgpack.__file__, "client": sys.modules["e2fgvi_host.client"].__file__,
    "server": hello["server"], "command": launcher.server_command(), "started": started.args,
    "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "cv2")),
}))
"""


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv(wire.ACCESS_KEY_FILE_ENV, str(tmp_path / "access.key"))  # the server's and the hosts'
    process = ServerProcess(free_address(), [], tmp_path / "server.log").start()
    yield process
    process.kill()


def _talk(address: str) -> str:
    return f"ADDRESS, SPARE = {address!r}, {free_address()!r}\n{TALK}"


def _check(answer: dict, install: Path) -> None:
    for module in ("zmq", "msgpack", "client"):
        assert answer[module].startswith(str(install)), (module, answer[module])
    recorded = installation_commands()[SERVER_PROGRAM]
    assert answer["heavy"] == []  # the host side never loads the engine's modules
    assert answer["server"] == "e2fgvi-server" and answer["command"] == recorded
    assert answer["started"][: len(recorded)] == recorded and os.path.isabs(recorded[0])


def _install(host: str, home: Path, *args: str) -> None:
    done = run_e2fgvi(["install", host, *args], home, timeout_s=600)
    assert done.returncode == 0, done.stderr


def test_nuke_install_is_self_contained(tmp_path, server, host_wheels, host_python):
    home, target = tmp_path / "home", tmp_path / "nuke_path"
    _install("nuke", home, "--target", str(target), "--host-python", PYTHON, "--wheels", str(host_wheels))
    plugin = target / "e2fgvi_remove_object"
    assert (plugin / "_vendor" / f"python{PYTHON}" / "zmq").is_dir()
    start_up = f"""
import runpy
import nuke
runpy.run_path({str(target / "init.py")!r})
for folder in nuke.standin.plugin_paths:
    runpy.run_path(folder + "/init.py")
    runpy.run_path(folder + "/menu.py")
"""
    done = host_python(start_up + _talk(server.address), STANDINS)
    assert done.returncode == 0, done.stderr
    _check(json.loads(done.stdout.splitlines()[-1]), plugin)


def test_resolve_install_is_self_contained(tmp_path, server, host_wheels, host_python):
    home, target = tmp_path / "home", tmp_path / "fusion"
    _install("resolve", home, "--target", str(target), "--host-python", PYTHON, "--wheels", str(host_wheels))
    launcher = target / "Scripts" / "Edit" / "E2FGVI Remove Object.py"
    start_up = f"import runpy\nrunpy.run_path({str(launcher)!r})\n"  # Workspace > Scripts (nothing to clean)
    done = host_python(start_up + _talk(server.address), STANDINS)
    assert done.returncode == 0, done.stderr
    assert "missing for Python" not in done.stderr
    _check(json.loads(done.stdout.splitlines()[-1]), target / "e2fgvi_remove_object")


@pytest.mark.blender
def test_blender_extension_is_enabled_in_real_bpy_with_its_wheels(tmp_path, server, host_wheels, host_python):
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("Blender's bpy module is not installed (pip install bpy==5.0.1)")
    home = tmp_path / "home"
    config = home / ".config"
    _install("blender", home, "--blender-version", "5.0", "--wheels", str(host_wheels))
    extension = config / "blender" / "5.0" / "extensions" / "user_default" / "e2fgvi_remove_object"
    manifest = (extension / "blender_manifest.toml").read_text()
    assert 'blender_version_min = "5.0.0"' in manifest and "./wheels/pyzmq-" in manifest
    assert "-cp311-" in manifest and "-cp313-" in manifest  # Blender 5.0 and 5.1 alike
    validator = next(Path(importlib.util.find_spec("bpy").origin).parent.glob("*/scripts/addons_core/bl_pkg/cli"))
    validate = f"sys.argv = ['blender_ext', 'validate', {str(extension)!r}]\nimport runpy\n"
    validate += f"runpy.run_path({str(validator / 'blender_ext.py')!r}, run_name='__main__')\n"
    checked = host_python(validate)
    assert checked.returncode == 0 and "Success" in checked.stdout, checked.stdout + checked.stderr
    enable = """
import bpy, addon_utils
module = "bl_ext.user_default.e2fgvi_remove_object"
addon_utils.extensions_refresh(addon_modules_pending=[module])  # Blender installs the manifest's wheels
assert addon_utils.enable(module, default_set=True, handle_error=lambda exc: print("ERROR", exc)) is not None
assert hasattr(bpy.ops.e2fgvi, "remove_object")
"""
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(config)}
    done = host_python(enable + _talk(server.address), env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["client"].startswith(str(extension)) and answer["heavy"] == []
    wheels_site = config / "blender" / "5.0" / "extensions" / ".local"
    assert answer["zmq"].startswith(str(wheels_site)) and answer["msgpack"].startswith(str(wheels_site))
    recorded = installation_commands()[SERVER_PROGRAM]
    assert answer["command"] == recorded and answer["started"][: len(recorded)] == recorded


def test_a_recorded_command_that_has_gone_is_one_line_saying_to_reinstall(tmp_path):
    home, target = tmp_path / "home", tmp_path / "nuke_path"
    _install("nuke", home, "--target", str(target), "--skip-dependencies")
    vendor = target / "e2fgvi_remove_object" / "_vendor"
    recorded = json.loads((vendor / "e2fgvi_commands.json").read_text())
    recorded["commands"] = {name: [str(tmp_path / "gone" / name)] for name in recorded["commands"]}
    (vendor / "e2fgvi_commands.json").write_text(json.dumps(recorded))
    script = """
from e2fgvi_host import launcher
try:
    launcher.ensure_local_server(ADDRESS, timeout_s=30)
except launcher.ServerUnavailableError as exc:
    print(exc)
print(launcher.run_cli(["--version"]).stderr)
"""
    # the host's Python here has pyzmq (--skip-dependencies); the vendored host side comes first on its path
    code = f"import sys; sys.path.insert(0, {str(vendor)!r})\nADDRESS = {free_address()!r}\n{script}"
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and all("re-run `e2fgvi install nuke`" in line for line in lines), lines
    assert sys.executable not in done.stdout


def test_the_built_wheel_installs_into_a_fresh_venv_and_installs_blender(tmp_path, host_wheels):
    """What docs/hosts.md tells an artist: the wheel into its own environment, then `e2fgvi install blender`."""
    dist, venv, home = tmp_path / "dist", tmp_path / "venv", tmp_path / "home"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), "."],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    wheel = next(dist.glob("e2fgvi_remove-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    # The heavy dependencies (torch...) come from this environment through a path file, our own packages never do.
    deps = tmp_path / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("e2fgvi", "__editable__", "_e2fgvi")) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.strip()  # fmt: skip
    Path(site, "deps.pth").write_text(f"{deps}\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr

    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    done = subprocess.run(
        [str(venv / "bin" / "e2fgvi"), "install", "blender", "--wheels", str(host_wheels)],
        capture_output=True, text=True, timeout=600, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    extension = home / ".config" / "blender" / "5.0" / "extensions" / "user_default" / "e2fgvi_remove_object"
    recorded = json.loads((extension / "_vendor" / "e2fgvi_commands.json").read_text())
    assert recorded["commands"]["e2fgvi-server"] == [str(venv / "bin" / "e2fgvi-server")]
    assert (venv / "bin" / "e2fgvi-server").is_file()
    assert any(p.name.startswith("pyzmq-") for p in (extension / "wheels").iterdir())
    protocol = extension / "_vendor" / "e2fgvi_server" / "protocol.py"
    assert protocol.read_bytes() == Path(site, "e2fgvi_server", "protocol.py").read_bytes()
