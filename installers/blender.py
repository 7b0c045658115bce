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
import functools
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
DESCRIPTION = "the Remove Object add-on for Blender 5.0+ (Video Sequencer and compositor)"
EXTENSION_ID = "e2fgvi_remove_object"
DEFAULT_VERSIONS = ("5.0",)
# The Python each supported Blender version embeds (Blender release notes): the extension carries wheels for each.
BLENDER_PYTHONS = {(5, 0): "3.11", (5, 1): "3.13"}
BUNDLED_WITH_BLENDER = ("numpy",)  # Blender ships numpy; an extension must not carry its own
BLENDER_PLATFORMS = {"linux": "linux-x64", "windows": "windows-x64", "macos": "macos-arm64"}
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
OURS = ("e2fgvi_core", "e2fgvi_server", "e2fgvi_host", "server", "host_plugin")  # our top-level import names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--blender-version",
        action="append",
        default=[],
        help="Blender version folder to install into, e.g. 5.0 (repeatable; default: every 5.0+ one found, else 5.0)",
    )
    parser.add_argument("--zip", metavar="FILE", help="also write the extension zip to FILE")
    from . import _dependencies

    _dependencies.add_arguments(parser, "a Blender newer than those known (5.0: 3.11, 5.1: 3.13, always carried)")


HOST_SIDE_IMPORT = "from e2fgvi_host import bridge"  # what the add-on needs besides its own package


def host_side_files() -> dict[str, Path]:
    """The files of every module of ours the bridge loads, by their path under ``_vendor``.

    Asked of a fresh interpreter rather than listed by hand, so the vendored host side is exactly what the bridge
    imports (client, protocol, the error tree...) and stays so when those modules move.
    """
    return _host_side()[0]


def host_side_distributions() -> list[str]:
    """The third-party distributions whose modules the host side loads (pyzmq, msgpack, numpy), from the same
    fresh interpreter: what an install must carry into a host's Python."""
    return _host_side()[1]


def adapter_imports() -> list[str]:
    """Our modules the host adapters import by absolute name (``from e2fgvi_core.schema import ...``), read from
    their source: the adapters import ``bpy``/``nuke``/Resolve's module, so the fresh interpreter cannot import
    them, but what they take of ours must be vendored too."""
    import ast

    import e2fgvi_host

    names = set()
    for path in sorted(Path(e2fgvi_host.__file__).parent.glob("*/*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            names.update(m for m in modules if m.split(".")[0] in OURS and not m.startswith("e2fgvi_host"))
    return sorted(names)


@functools.lru_cache(maxsize=1)
def _host_side() -> tuple[dict[str, Path], list[str]]:
    extra = "; ".join(f"import {name}" for name in adapter_imports()) or "pass"
    code = (
        f"import json, sys, importlib.metadata as md; before = set(sys.modules); {HOST_SIDE_IMPORT}; {extra}; "
        f"ours = {{n: m.__file__ for n, m in sys.modules.items() if n.split('.')[0] in {OURS!r}}}; "
        "tops = {n.split('.')[0] for n, m in sys.modules.items() if n not in before and getattr(m, '__file__', 0)}; "
        f"tops -= set(sys.stdlib_module_names) | set({OURS!r}); "
        "dists = md.packages_distributions(); "
        "print(json.dumps({'ours': ours, 'dists': sorted({d for t in tops for d in dists.get(t, [])})}))"
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
    answer = json.loads(done.stdout)
    files: dict[str, Path] = {}
    for name, path in answer["ours"].items():
        relative = Path(*name.split("."))
        relative = relative / "__init__.py" if Path(path).name == "__init__.py" else relative.with_suffix(".py")
        files[relative.as_posix()] = Path(path)
    return files, list(answer["dists"])


def extension_files(platform: str, pythons: list[str], options: dict[str, Any] | None = None) -> dict[str, bytes]:
    """Every file of the extension, by its path inside the extension folder (sorted, deterministic).

    ``wheels/`` holds pyzmq and msgpack for ``platform`` and each of ``pythons`` (from the index or ``--wheels``),
    listed in the manifest's ``wheels``; Blender installs them into its own ``site-packages`` when the extension
    is enabled. ``_vendor/e2fgvi_commands.json`` records this installation's ``e2fgvi-server``.
    """
    from . import _dependencies
    from ._host_side import commands_file

    options = options or {}
    vendored = host_side_files()
    host_name = next(n.split("/")[0] for n in vendored if n.endswith("/bridge/__init__.py"))
    blender_dir = vendored[f"{host_name}/__init__.py"].parent / "blender"
    wheels: dict[str, bytes] = {}
    if not options.get("skip_dependencies"):
        reqs = _dependencies.requirements(host_side_distributions(), BUNDLED_WITH_BLENDER)
        for python in pythons:
            wheels.update(_dependencies.wheel_files(reqs, python, platform, options.get("wheels")))
    manifest = manifest_text((blender_dir / "blender_manifest.toml").read_text("utf-8"), platform, sorted(wheels))
    files: dict[str, bytes] = {
        "blender_manifest.toml": manifest.encode("utf-8"),
        "__init__.py": (blender_dir / "extension.py").read_bytes(),
    }
    for name, content in wheels.items():
        files[f"wheels/{name}"] = content
    for name, path in vendored.items():
        files[f"_vendor/{name}"] = path.read_bytes()
    for path in sorted(blender_dir.glob("*.py")):
        if path.name != "extension.py":
            files[f"_vendor/{host_name}/blender/{path.name}"] = path.read_bytes()
    name, content = commands_file(NAME)
    files[name] = content
    return dict(sorted(files.items()))


def manifest_text(source: str, platform: str, wheel_names: list[str]) -> str:
    """The manifest with ``platforms`` and ``wheels`` filled in: parsed, changed and written back by ``tomli_w``
    (top-level keys before the tables, names quoted whatever they hold); the source's comments are not carried."""
    import tomli_w
    import tomllib

    manifest = tomllib.loads(source)
    manifest["platforms"] = [BLENDER_PLATFORMS[platform]]
    if wheel_names:
        manifest["wheels"] = [f"./wheels/{name}" for name in wheel_names]
    return tomli_w.dumps(manifest)


def min_version() -> tuple[int, int]:
    """``blender_version_min`` of the extension's manifest, as (major, minor): the one place it is stated."""
    import e2fgvi_host

    source = (Path(e2fgvi_host.__file__).parent / "blender" / "blender_manifest.toml").read_text("utf-8")
    match = re.search(r'^blender_version_min = "(\d+)\.(\d+)', source, re.MULTILINE)
    if match is None:
        raise ConfigError("blender_manifest.toml states no blender_version_min")
    return int(match[1]), int(match[2])


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
    """The Blender version folders to install into: the ones asked for, else every 5.0+ one present, else 5.0."""
    asked = list(options.get("blender_version") or [])
    for version in asked:
        if not re.fullmatch(r"\d+\.\d+", version):
            raise ConfigError(f"--blender-version must look like 5.0, got {version!r}")
        if tuple(int(p) for p in version.split(".")) < min_version():
            raise ConfigError(
                f"--blender-version {version}: Remove Object needs Blender {'.'.join(map(str, min_version()))} "
                "or newer (blender_version_min)"
            )
    if asked:
        return asked
    root = blender_config_root(ctx)
    found = []
    if root.is_dir():
        for folder in root.iterdir():
            match = re.fullmatch(r"(\d+)\.(\d+)", folder.name)
            if folder.is_dir() and match and (int(match[1]), int(match[2])) >= min_version():
                found.append(folder.name)
    return sorted(found) or list(DEFAULT_VERSIONS)


def extension_dirs(ctx: InstallContext, options: dict[str, Any]) -> list[Path]:
    if ctx.target is not None:
        return [ctx.target / EXTENSION_ID]
    root = blender_config_root(ctx)
    return [root / v / "extensions" / "user_default" / EXTENSION_ID for v in versions(ctx, options)]


def plan(ctx: InstallContext, options: dict[str, Any]) -> list[Change]:
    # every Python the supported Blender versions use: one extension folder works in each of them
    pythons = sorted(set(BLENDER_PYTHONS.values()) | set(options.get("host_python") or []))
    files = extension_files(ctx.platform, pythons, options)
    changes: list[Change] = [
        WriteFile(folder / name, content) for folder in extension_dirs(ctx, options) for name, content in files.items()
    ]
    if options.get("zip"):
        changes.append(WriteFile(Path(options["zip"]).expanduser().absolute(), build_zip(files)))
    return changes
