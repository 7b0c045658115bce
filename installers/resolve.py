"""``e2fgvi install resolve``: the Remove Object Fuse (Fusion page, free and Studio) and the Studio script.

Where Fusion looks (Blackmagic's Fusion scripting guide and the Resolve scripting README), per user:

| app | Linux | macOS | Windows |
|---|---|---|---|
| Resolve | ``~/.local/share/DaVinciResolve/Fusion`` | ``~/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion`` | ``%APPDATA%\\Blackmagic Design\\DaVinci Resolve\\Support\\Fusion`` |
| Fusion Studio | ``~/.fusion/BlackmagicDesign/Fusion`` | ``~/Library/Application Support/Blackmagic Design/Fusion`` | ``%APPDATA%\\Blackmagic Design\\Fusion`` |

The Fuse goes to ``Fuses/E2fgviRemoveObject.fuse`` with the full command of this installation's ``e2fgvi`` written
into it (``--command`` overrides), and its default cache folder: this user's cache folder as the Python side names
it (``e2fgvi_core.user_dirs``, ``fuse`` below it), so the Fuse spells out no per-OS folder of its own. For Resolve, ``Scripts/Edit/E2FGVI Remove Object.py`` is a small launcher (shown
under Workspace > Scripts) that imports the torch-free host side from ``e2fgvi/hosts/resolve/_vendor`` in the
user's data folder, outside Resolve's folders so no extra menu entries appear, with ``_vendor/pythonX.Y`` (pyzmq,
msgpack, numpy for the system Python Resolve uses: ``--host-python``, else ``python3`` on PATH; from the index or
``--wheels DIR``) and ``_vendor/e2fgvi_commands.json`` (this installation's ``e2fgvi`` and ``e2fgvi-server``). ``--target DIR`` takes DIR as the
Fusion user folder (``Fuses/`` and ``Scripts/`` below it; the host side goes to ``DIR/e2fgvi_remove_object``).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from e2fgvi_core.errors import ConfigError

from . import _dependencies
from ._framework import Change, InstallContext, WriteFile
from ._host_side import VENDOR, adapter_files, commands_file, deps_folder_code

NAME = "resolve"
DESCRIPTION = "the Remove Object Fuse for DaVinci Resolve / Fusion, and the Resolve Studio script"
APPS = ("resolve", "fusion", "both")
FUSE_NAME = "E2fgviRemoveObject.fuse"
SCRIPT_NAME = "E2FGVI Remove Object.py"
COMMAND_LINE = 'local E2FGVI_COMMAND = "e2fgvi"'
CACHE_LINE = 'local DEFAULT_CACHE = ""'
FUSE_CACHE_FOLDER = "fuse"  # below this user's e2fgvi cache folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--app", choices=APPS, default="resolve", help="DaVinci Resolve (default), Fusion Studio, or both"
    )
    parser.add_argument("--command", help="the e2fgvi command the Fuse runs (default: this installation's)")
    _dependencies.add_arguments(parser, "the Python 3 the Resolve Studio script runs in")


def fusion_roots(ctx: InstallContext, app: str) -> list[Path]:
    """The per-user Fusion folders of ``app`` (or ``--target``)."""
    if app not in APPS:
        raise ConfigError(f"--app must be one of {', '.join(APPS)}; got {app!r}")
    if ctx.target is not None:
        return [ctx.target]
    roots = []
    for name in ("resolve", "fusion") if app == "both" else (app,):
        if ctx.platform == "linux":
            roots.append(
                ctx.data_dir / "DaVinciResolve" / "Fusion"
                if name == "resolve"
                else ctx.home / ".fusion" / "BlackmagicDesign" / "Fusion"
            )
        elif ctx.platform == "macos":
            vendor = ctx.config_dir / "Blackmagic Design"
            roots.append(vendor / "DaVinci Resolve" / "Fusion" if name == "resolve" else vendor / "Fusion")
        else:
            vendor = ctx.config_dir / "Blackmagic Design"
            roots.append(vendor / "DaVinci Resolve" / "Support" / "Fusion" if name == "resolve" else vendor / "Fusion")
    return roots


def default_command(platform: str) -> str:
    """This installation's ``e2fgvi``, absolute (``launcher.installation_commands``), quoted for ``platform``."""
    from e2fgvi_host.launcher import CLI_PROGRAM, installation_commands

    parts = installation_commands()[CLI_PROGRAM]
    if platform == "windows":
        return " ".join(f'"{p}"' if " " in p else p for p in parts)
    return shlex.join(parts)


def resolve_pythons(options: dict[str, Any]) -> list[str]:
    """``--host-python``, else the system Python 3 Resolve's scripting uses (``python3``/``python`` on PATH)."""
    asked = _dependencies.checked_pythons(list(options.get("host_python") or []))
    if asked or options.get("skip_dependencies"):
        return asked
    for program in ("python3", "python"):
        version = _dependencies.find_python_version(program)
        if version:
            return [version]
    raise ConfigError("cannot find the Python 3 Resolve uses: give --host-python X.Y (see `python3 --version`)")


def fuse_cache_dir(ctx: InstallContext) -> Path | None:
    """The Fuse's default cache: ``fuse`` in this user's e2fgvi cache folder (``user_dirs.user_cache_dir``,
    platformdirs: private to the user; the Fuse makes its folders 0700). None for an install planned for another
    platform than this one (``--platform``): that user's folder is not known here, and the Fuse then asks for its
    Cache folder control rather than guess."""
    from e2fgvi_core.user_dirs import user_cache_dir

    from ._framework import current_platform

    if ctx.platform != current_platform():
        return None
    return user_cache_dir() / FUSE_CACHE_FOLDER


def fuse_source(source: Path, command: str, cache: Path | None = None) -> bytes:
    """The Fuse ``source`` with ``command`` and the default ``cache`` folder written in (Lua long strings: no
    escaping needed)."""
    text = source.read_text(encoding="utf-8")
    for line in (COMMAND_LINE, CACHE_LINE):
        if text.count(line) != 1:
            raise ConfigError(f"RemoveObject.fuse must hold the line {line!r} exactly once")
    for name, value in (("--command", command), ("the cache folder", str(cache or ""))):
        if "]==]" in value:
            raise ConfigError(f"{name} cannot contain ']==]': {value!r}")
    text = text.replace(COMMAND_LINE, f"local E2FGVI_COMMAND = [==[{command}]==]")
    if cache is not None:
        text = text.replace(CACHE_LINE, f"local DEFAULT_CACHE = [==[{cache}]==]")
    return text.encode("utf-8")


def vendor_dir(ctx: InstallContext) -> Path:
    if ctx.target is not None:
        return ctx.target / "e2fgvi_remove_object"
    return ctx.data_dir / "e2fgvi" / "hosts" / "resolve"


def launcher_source(vendor: Path, host_name: str) -> bytes:
    """The Workspace > Scripts entry: puts the vendored host side on ``sys.path`` and runs the script."""
    return (
        '"""Workspace > Scripts > E2FGVI Remove Object (DaVinci Resolve Studio), written by e2fgvi install resolve."""\n'
        "\n"
        "import os\n"
        "import sys\n"
        "\n"
        f"VENDOR = {str(vendor / VENDOR)!r}\n"
        "if VENDOR not in sys.path:\n"
        "    sys.path.insert(0, VENDOR)\n"
        f"{deps_folder_code('VENDOR', NAME)}"
        "\n"
        f"from {host_name}.resolve import resolve_script  # noqa: E402\n"
        "\n"
        'here = globals().get("__file__")\n'
        "resolve_script.main(os.path.dirname(os.path.abspath(here)) if here else VENDOR)\n"
    ).encode()


def plan(ctx: InstallContext, options: dict[str, Any]) -> list[Change]:
    app = options.get("app") or "resolve"
    command = options.get("command") or default_command(ctx.platform)
    files, host_name, sources = adapter_files("resolve")
    fuse = fuse_source(sources / "RemoveObject.fuse", command, fuse_cache_dir(ctx))
    changes: list[Change] = []
    roots = fusion_roots(ctx, app)
    for root in roots:
        changes.append(WriteFile(root / "Fuses" / FUSE_NAME, fuse))
    if app in ("resolve", "both"):
        vendor = vendor_dir(ctx)
        changes.append(WriteFile(roots[0] / "Scripts" / "Edit" / SCRIPT_NAME, launcher_source(vendor, host_name)))
        changes += [WriteFile(vendor / name, content) for name, content in files.items() if name.endswith(".py")]
        name, content = commands_file(NAME)
        changes.append(WriteFile(vendor / name, content))
        pythons = resolve_pythons(options)
        deps = _dependencies.vendored_dependencies(options, ctx.platform, pythons, VENDOR)
        changes += [WriteFile(vendor / name, content) for name, content in deps.items()]
    return changes
