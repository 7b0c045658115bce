"""``e2fgvi install nuke``: the Remove Object node in Nuke's plug-in path.

Nuke runs ``init.py`` (and, in the GUI, ``menu.py``) from ``~/.nuke`` and from every folder on ``NUKE_PATH`` (Foundry's
"Loading Gizmos, NDK Plug-ins, and Python Files at Start-up"). The installer writes its own folder
``e2fgvi_remove_object/`` there (``init.py``, ``menu.py`` and ``_vendor/``: the torch-free host side under its own
import names) and adds one guarded block to the ``init.py`` beside it that puts the folder on the plug-in path; a
user's ``init.py`` is backed up first and only the block is ever changed. ``--target DIR`` installs into a
``NUKE_PATH`` folder instead of ``~/.nuke``. The same layout serves Linux, macOS and Windows (``~/.nuke`` is
``%USERPROFILE%\\.nuke`` on Windows).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._framework import Change, GuardedBlock, InstallContext, WriteFile
from ._host_side import adapter_files

NAME = "nuke"
DESCRIPTION = "the Remove Object node for Nuke (Nodes > E2FGVI > Remove Object)"
PLUGIN_FOLDER = "e2fgvi_remove_object"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No Nuke-specific flags: ``--target`` names a NUKE_PATH folder."""


def nuke_folder(ctx: InstallContext) -> Path:
    """``--target`` (a NUKE_PATH folder), else the user's ``~/.nuke``."""
    return ctx.target if ctx.target is not None else ctx.home / ".nuke"


def block_text(plugin_dir: Path) -> str:
    return f"import nuke\n\nnuke.pluginAddPath({str(plugin_dir)!r})\n"


def plan(ctx: InstallContext, options: dict[str, Any]) -> list[Change]:
    base = nuke_folder(ctx)
    plugin_dir = base / PLUGIN_FOLDER
    files, _host_name, sources = adapter_files("nuke")
    changes: list[Change] = [
        WriteFile(plugin_dir / "init.py", (sources / "init.py").read_bytes()),
        WriteFile(plugin_dir / "menu.py", (sources / "menu.py").read_bytes()),
    ]
    changes += [WriteFile(plugin_dir / name, content) for name, content in files.items()]
    changes.append(GuardedBlock(base / "init.py", NAME, block_text(plugin_dir)))
    return changes
