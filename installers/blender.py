"""``e2fgvi install blender``: the Remove Object extension, built as a zip and unpacked where Blender looks.

Blender 4.2+ keeps user extensions in ``<config>/blender/<version>/extensions/user_default/<id>/``:
``$XDG_CONFIG_HOME`` (``~/.config``) on Linux, ``~/Library/Application Support/Blender`` on macOS and
``%APPDATA%\\Blender Foundation\\Blender`` on Windows. The extension holds the manifest, a small ``__init__.py``
(``host_plugin/blender/extension.py``) and, in ``_vendor/``, only the torch-free host side under its own import
names: the modules the bridge loads (client, protocol, the error tree; asked of a fresh interpreter) and the
Blender add-on. ``--zip FILE`` also writes
the zip (for Edit > Preferences > Get Extensions > Install from Disk, or ``blender --command extension
install-file``). The zip is byte-identical for the same sources (fixed timestamps), so a re-install changes nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from e2fgvi_core.errors import ConfigError

from ._framework import Change, InstallContext, WriteFile

NAME = "blender"
DESCRIPTION = "the Remove Object add-on for Blender 4.2+ (Video Sequencer and compositor)"
EXTENSION_ID = "e2fgvi_remove_object"
DEFAULT_VERSIONS = ("5.0",)
MIN_VERSION = (4, 2)
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
OURS = ("e2fgvi_core", "e2fgvi_server", "e2fgvi_host", "server", "host_plugin")  # our top-level import names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--blender-version",
        action="append",
        default=[],
        help="Blender version folder to install into, e.g. 5.0 (repeatable; default: every 4.2+ one found, else 5.0)",
    )
    parser.add_argument("--zip", metavar="FILE", help="also write the extension zip to FILE")


HOST_SIDE_IMPORT = "from e2fgvi_host import bridge"  # what the add-on needs besides its own package


def host_side_files() -> dict[str, Path]:
    """The files of every module of ours the bridge loads, by their path under ``_vendor``.

    Asked of a fresh interpreter rather than listed by hand, so the vendored host side is exactly what the bridge
    imports (client, protocol, the error tree...) and stays so when those modules move.
    """
    code = (
        f"import json, sys; {HOST_SIDE_IMPORT}; "
        f"print(json.dumps({{n: m.__file__ for n, m in sys.modules.items() if n.split('.')[0] in {OURS!r}}}))"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])},
    )
    if done.returncode != 0:
        raise ConfigError(f"cannot load the host side to package it: {done.stderr.strip().splitlines()[-1:]}")
    files: dict[str, Path] = {}
    for name, path in json.loads(done.stdout).items():
        relative = Path(*name.split("."))
        relative = relative / "__init__.py" if Path(path).name == "__init__.py" else relative.with_suffix(".py")
        files[relative.as_posix()] = Path(path)
    return files


def extension_files() -> dict[str, bytes]:
    """Every file of the extension, by its path inside the extension folder (sorted, deterministic)."""
    vendored = host_side_files()
    host_name = next(n.split("/")[0] for n in vendored if n.endswith("/bridge/__init__.py"))
    blender_dir = vendored[f"{host_name}/__init__.py"].parent / "blender"
    files: dict[str, bytes] = {
        "blender_manifest.toml": (blender_dir / "blender_manifest.toml").read_bytes(),
        "__init__.py": (blender_dir / "extension.py").read_bytes(),
    }
    for name, path in vendored.items():
        files[f"_vendor/{name}"] = path.read_bytes()
    for path in sorted(blender_dir.glob("*.py")):
        if path.name != "extension.py":
            files[f"_vendor/{host_name}/blender/{path.name}"] = path.read_bytes()
    return dict(sorted(files.items()))


def build_zip(files: dict[str, bytes]) -> bytes:
    """The extension zip: the files at its root, fixed timestamps and permissions (same sources, same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def blender_config_root(ctx: InstallContext) -> Path:
    if ctx.platform == "linux":
        return ctx.config_dir / "blender"
    if ctx.platform == "macos":
        return ctx.config_dir / "Blender"
    return ctx.config_dir / "Blender Foundation" / "Blender"


def versions(ctx: InstallContext, options: dict[str, Any]) -> list[str]:
    """The Blender version folders to install into: the ones asked for, else every 4.2+ one present, else 5.0."""
    asked = list(options.get("blender_version") or [])
    for version in asked:
        if not re.fullmatch(r"\d+\.\d+", version):
            raise ConfigError(f"--blender-version must look like 5.0, got {version!r}")
    if asked:
        return asked
    root = blender_config_root(ctx)
    found = []
    if root.is_dir():
        for folder in root.iterdir():
            match = re.fullmatch(r"(\d+)\.(\d+)", folder.name)
            if folder.is_dir() and match and (int(match[1]), int(match[2])) >= MIN_VERSION:
                found.append(folder.name)
    return sorted(found) or list(DEFAULT_VERSIONS)


def extension_dirs(ctx: InstallContext, options: dict[str, Any]) -> list[Path]:
    if ctx.target is not None:
        return [ctx.target / EXTENSION_ID]
    root = blender_config_root(ctx)
    return [root / v / "extensions" / "user_default" / EXTENSION_ID for v in versions(ctx, options)]


def plan(ctx: InstallContext, options: dict[str, Any]) -> list[Change]:
    files = extension_files()
    changes: list[Change] = [
        WriteFile(folder / name, content) for folder in extension_dirs(ctx, options) for name, content in files.items()
    ]
    if options.get("zip"):
        changes.append(WriteFile(Path(options["zip"]).expanduser().absolute(), build_zip(files)))
    return changes
