"""``e2fgvi install nuke``: the Remove Object node in Nuke's plug-in path.

Nuke runs ``init.py`` (and, in the GUI, ``menu.py``) from ``~/.nuke`` and from every folder on ``NUKE_PATH`` (Foundry's
"Loading Gizmos, NDK Plug-ins, and Python Files at Start-up"). The installer writes its own folder
``e2fgvi_remove_object/`` there (``init.py``, ``menu.py`` and ``_vendor/``: the torch-free host side under its own
import names) and adds one guarded block to the ``init.py`` beside it that puts the folder on the plug-in path; a
user's ``init.py`` is backed up first and only the block is ever changed. ``--target DIR`` installs into a
``NUKE_PATH`` folder instead of ``~/.nuke``. The same layout serves Linux, macOS and Windows (``~/.nuke`` is
``%USERPROFILE%\\.nuke`` on Windows).

Self-contained: ``_vendor/pythonX.Y/`` holds pyzmq, msgpack and numpy for each Nuke Python asked for
(``--host-python``; default: the Pythons of the Nuke versions installed in the usual folders, ``NUKE_PYTHONS``), from
the package index or ``--wheels DIR``; ``_vendor/e2fgvi_commands.json`` records this installation's ``e2fgvi`` and
``e2fgvi-server`` for the node to run.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from e2fgvi_core.errors import ConfigError

from . import _dependencies
from ._framework import Change, GuardedBlock, InstallContext, WriteFile
from ._host_side import VENDOR, adapter_files, commands_file, deps_folder_code

NAME = "nuke"
DESCRIPTION = "the Remove Object node for Nuke (Nodes > E2FGVI > Remove Object)"
PLUGIN_FOLDER = "e2fgvi_remove_object"
# Foundry's release notes: the Python each Nuke major version embeds (older ones are not supported)
NUKE_PYTHONS = {15: "3.10", 16: "3.11", 17: "3.11"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--target`` names a NUKE_PATH folder; ``--host-python``, ``--wheels``: the dependencies carried."""
    _dependencies.add_arguments(parser, "Nuke (15: 3.10, 16: 3.11)")


def nuke_install_roots(platform: str) -> list[Path]:
    """Where Nuke's installers put it by default (``Nuke15.1v1`` folders below these)."""
    if platform == "linux":
        return [Path("/usr/local"), Path("/opt")]
    if platform == "macos":
        return [Path("/Applications")]
    return [Path("C:/Program Files")]


def nuke_pythons(ctx: InstallContext, options: dict[str, Any]) -> list[str]:
    """``--host-python``, else the Pythons of the Nuke versions found installed, else a one-line error."""
    asked = _dependencies.checked_pythons(list(options.get("host_python") or []))
    if asked or options.get("skip_dependencies"):
        return asked
    found = set()
    for root in nuke_install_roots(ctx.platform):
        if root.is_dir():
            for folder in root.iterdir():
                match = re.fullmatch(r"Nuke(\d+)\.\d+v\d+", folder.name)
                if match and int(match[1]) in NUKE_PYTHONS:
                    found.add(NUKE_PYTHONS[int(match[1])])
    if not found:
        known = ", ".join(f"Nuke {major}: {python}" for major, python in NUKE_PYTHONS.items())
        raise ConfigError(f"cannot find Nuke in its usual folders: give --host-python X.Y ({known})")
    return _dependencies.checked_pythons(sorted(found))


def plugin_init(source: bytes) -> bytes:
    """The plug-in's ``init.py``: the node's own, then the lines that put this Python's dependencies on the path."""
    code = deps_folder_code("_vendor", NAME)
    return (
        source
        + b"\n# added by `e2fgvi install nuke`: this Python's vendored pyzmq, msgpack and numpy\n"
        + code.encode()
    )


def nuke_folder(ctx: InstallContext) -> Path:
    """``--target`` (a NUKE_PATH folder), else the user's ``~/.nuke``."""
    return ctx.target if ctx.target is not None else ctx.home / ".nuke"


def block_text(plugin_dir: Path) -> str:
    return f"import nuke\n\nnuke.pluginAddPath({str(plugin_dir)!r})\n"


def plan(ctx: InstallContext, options: dict[str, Any]) -> list[Change]:
    base = nuke_folder(ctx)
    plugin_dir = base / PLUGIN_FOLDER
    files, _host_name, sources = adapter_files("nuke")
    pythons = nuke_pythons(ctx, options)
    name, content = commands_file(NAME)
    files[name] = content
    files.update(_dependencies.vendored_dependencies(options, ctx.platform, pythons, VENDOR))
    changes: list[Change] = [
        WriteFile(plugin_dir / "init.py", plugin_init((sources / "init.py").read_bytes())),
        WriteFile(plugin_dir / "menu.py", (sources / "menu.py").read_bytes()),
    ]
    changes += [WriteFile(plugin_dir / name, content) for name, content in files.items()]
    changes.append(GuardedBlock(base / "init.py", NAME, block_text(plugin_dir)))
    return changes
