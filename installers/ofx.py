"""``e2fgvi install ofx``: the Remove Object OpenFX plug-in bundle in the OFX plug-in folder of this OS.

OpenFX hosts (Resolve, Nuke, Natron, Flame, Fusion Studio...) load every ``*.ofx.bundle`` in the folder the OpenFX
specification names per OS ("Installation Location"): ``/usr/OFX/Plugins`` (Linux), ``/Library/OFX/Plugins``
(macOS), ``C:\\Program Files\\Common Files\\OFX\\Plugins`` (Windows), plus every folder on ``OFX_PLUGIN_PATH``. The
installer copies the bundle ``make ofx`` built (``build/ofx/RemoveObject.ofx.bundle``: the binary and the libzmq
beside it) into the system folder when it may write there, else into a per-user folder (``~/.local/share/OFX/
Plugins``, ``~/Library/OFX/Plugins``, ``%APPDATA%\\OFX\\Plugins``) and says to put that folder on
``OFX_PLUGIN_PATH``. ``--target DIR`` installs into DIR. The bundle's ``Contents/Resources/server-command`` records
this installation's ``e2fgvi-server``: the plug-in starts it when no server answers on a local address.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path
from typing import Any

from e2fgvi_core.errors import ConfigError

from ._framework import Change, InstallContext, WriteFile

NAME = "ofx"
DESCRIPTION = "the Remove Object OpenFX plug-in (Resolve, Nuke, Natron, Flame and every OFX host)"
BUNDLE = "RemoveObject.ofx.bundle"
BUILT_BUNDLE = Path(__file__).resolve().parents[1] / "build" / "ofx" / BUNDLE
SERVER_COMMAND_FILE = "Contents/Resources/server-command"  # read by host_plugin/ofx/remove_object.cpp
SYSTEM_FOLDERS = {
    "linux": Path("/usr/OFX/Plugins"),
    "macos": Path("/Library/OFX/Plugins"),
    "windows": Path("C:/Program Files/Common Files/OFX/Plugins"),
}
ARCH_FOLDERS = {"linux": "Linux-x86-64", "macos": "MacOS", "windows": "Win64"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--target DIR``: an OFX plug-in folder of your own (put it on OFX_PLUGIN_PATH)."""


def user_folder(ctx: InstallContext) -> Path:
    if ctx.platform == "macos":
        return ctx.home / "Library" / "OFX" / "Plugins"
    return ctx.data_dir / "OFX" / "Plugins"


def _writable(folder: Path) -> bool:
    """Whether ``folder`` can be written or made: the nearest existing folder above it is writable by us."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK)


def plugin_folder(ctx: InstallContext) -> tuple[Path, bool]:
    """(the folder the bundle goes into, whether a host finds it only through ``OFX_PLUGIN_PATH``)."""
    if ctx.target is not None:
        return ctx.target, True
    system = SYSTEM_FOLDERS[ctx.platform]
    if _writable(system):
        return system, False
    return user_folder(ctx), True


def bundle_files(platform: str, source: Path = BUILT_BUNDLE) -> dict[str, tuple[bytes, int]]:
    """The built bundle's files by path inside it, with their modes; a one-line error when it is not built."""
    arch = source / "Contents" / ARCH_FOLDERS[platform]
    if not arch.is_dir():
        raise ConfigError(
            f"the OpenFX plug-in for {platform} is not built ({arch} is missing): run `make ofx` on a {platform} "
            "machine first"
        )
    files = {}
    for path in sorted(source.rglob("*")):
        if path.is_file():
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            files[path.relative_to(source).as_posix()] = (path.read_bytes(), mode)
    return files


def plan(ctx: InstallContext, options: dict[str, Any]) -> list[Change]:
    from e2fgvi_host.launcher import SERVER_PROGRAM, installation_commands

    folder, needs_path = plugin_folder(ctx)
    bundle = folder / BUNDLE
    files = bundle_files(ctx.platform)
    command = shlex.join(installation_commands()[SERVER_PROGRAM])
    files[SERVER_COMMAND_FILE] = ((command + "\n").encode(), 0o644)
    if needs_path and not ctx.dry_run:
        ctx.echo(f"OpenFX hosts find {folder} through OFX_PLUGIN_PATH: add it there (docs/hosts.md, OpenFX)")
    return [WriteFile(bundle / name, content, mode) for name, (content, mode) in files.items()]
