"""The torch-free host side plus one host's adapter package, as files to vendor into a host's folder.

Why shared: the Nuke and Resolve installers both put the modules the bridge loads (client, protocol, error tree;
``blender.host_side_files`` asks a fresh interpreter for them) and one adapter package (``nuke/``, ``resolve/``)
into a host's Python under ``_vendor/``, with their own import names, never torch.
"""

from __future__ import annotations

from pathlib import Path

from .blender import host_side_files as bridge_files

VENDOR = "_vendor"


def adapter_files(subpackage: str) -> tuple[dict[str, bytes], str, Path]:
    """(files by path under the install folder, the host package's import name, the adapter's source folder)."""
    vendored = bridge_files()
    host_name = next(n.split("/")[0] for n in vendored if n.endswith("/bridge/__init__.py"))
    adapter_dir = vendored[f"{host_name}/__init__.py"].parent / subpackage
    files = {f"{VENDOR}/{name}": path.read_bytes() for name, path in vendored.items()}
    for path in sorted(adapter_dir.iterdir()):
        if path.is_file():
            files[f"{VENDOR}/{host_name}/{subpackage}/{path.name}"] = path.read_bytes()
    return dict(sorted(files.items())), host_name, adapter_dir
