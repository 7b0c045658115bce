"""``e2fgvi install blender``: the Remove Object extension, built as a zip and unpacked where Blender looks.

Blender 4.2+ keeps user extensions in ``<config>/blender/<version>/extensions/user_default/<id>/``:
``$XDG_CONFIG_HOME`` (``~/.config``) on Linux, ``~/Library/Application Support/Blender`` on macOS and
``%APPDATA%\\Blender Foundation\\Blender`` on Windows. The extension holds the manifest, a small ``__init__.py``
(``host_plugin/blender/extension.py``) and, in ``_vendor/``, only the torch-free host side under its own import
names: the host package (client, bridge, the Blender add-on) and the protocol module. ``--zip FILE`` also writes
the zip (for Edit > Preferences > Get Extensions > Install from Disk, or ``blender --command extension
install-file``). The zip is byte-identical for the same sources (fixed timestamps), so a re-install changes nothing.
"""

from __future__ import annotations

import argparse
import io
import re
import zipfile
from pathlib import Path
from typing import Any

from e2fgvi_core.errors import ConfigError
from installers._framework import Change, InstallContext, WriteFile

NAME = "blender"
DESCRIPTION = "the Remove Object add-on for Blender 4.2+ (Video Sequencer and compositor)"
EXTENSION_ID = "e2fgvi_remove_object"
DEFAULT_VERSIONS = ("5.0",)
MIN_VERSION = (4, 2)
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
HOST_SUBPACKAGES = ("bridge", "blender")  # what of the host package goes in (no other host's adapter)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--blender-version",
        action="append",
        default=[],
        help="Blender version folder to install into, e.g. 5.0 (repeatable; default: every 4.2+ one found, else 5.0)",
    )
    parser.add_argument("--zip", metavar="FILE", help="also write the extension zip to FILE")


def _packages() -> tuple[Path, str, Path, str]:
    """(folder, import name) of the host package and of the protocol module's package, as this Python sees them."""
    from host_plugin import client

    host_dir = Path(client.__file__).parent
    protocol_file = Path(client.wire.__file__)
    return host_dir, client.__name__.split(".")[0], protocol_file, client.wire.__name__.split(".")[0]


def extension_files() -> dict[str, bytes]:
    """Every file of the extension, by its path inside the extension folder (sorted, deterministic)."""
    host_dir, host_name, protocol_file, protocol_name = _packages()
    blender_dir = host_dir / "blender"
    files: dict[str, bytes] = {
        "blender_manifest.toml": (blender_dir / "blender_manifest.toml").read_bytes(),
        "__init__.py": (blender_dir / "extension.py").read_bytes(),
    }
    vendor = "_vendor"
    for path in sorted(host_dir.glob("*.py")):
        files[f"{vendor}/{host_name}/{path.name}"] = path.read_bytes()
    for sub in HOST_SUBPACKAGES:
        for path in sorted((host_dir / sub).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.name not in ("blender_manifest.toml", "extension.py"):
                files[f"{vendor}/{host_name}/{path.relative_to(host_dir).as_posix()}"] = path.read_bytes()
    files[f"{vendor}/{protocol_name}/__init__.py"] = b'"""The protocol module of e2fgvi-server, for the host side."""\n'
    files[f"{vendor}/{protocol_name}/{protocol_file.name}"] = protocol_file.read_bytes()
    return dict(sorted(files.items()))


def extension_version() -> str:
    manifest = (_packages()[0] / "blender" / "blender_manifest.toml").read_text()
    match = re.search(r'^version\s*=\s*"([^"]+)"', manifest, flags=re.MULTILINE)
    if match is None:
        raise ConfigError("host_plugin/blender/blender_manifest.toml has no version")
    return match.group(1)


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
