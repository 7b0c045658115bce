"""The torch-free host side as files to vendor into a host's folder: the host package and the protocol module.

Why shared: the Nuke and Resolve installers (and the Blender one, which builds the same set for its zip) put the
client, the bridge and one host's adapter into a host's Python under their own import names, never ``e2fgvi_core``
or torch; this module says once which files that is.
"""

from __future__ import annotations

from pathlib import Path

VENDOR = "_vendor"


def host_side_files(subpackages: tuple[str, ...], prefix: str = VENDOR) -> dict[str, bytes]:
    """Every file of the host side with ``subpackages`` of the host package (e.g. ``("bridge", "nuke")``), by path
    relative to the folder it goes in: ``_vendor/<host package>/...`` and ``_vendor/<protocol package>/...``."""
    from host_plugin import client

    host_dir = Path(client.__file__).parent
    host_name = client.__name__.split(".")[0]
    protocol_file = Path(client.wire.__file__)
    protocol_name = client.wire.__name__.split(".")[0]
    files: dict[str, bytes] = {}
    for path in sorted(host_dir.glob("*.py")):
        files[f"{prefix}/{host_name}/{path.name}"] = path.read_bytes()
    for sub in subpackages:
        for path in sorted((host_dir / sub).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[f"{prefix}/{host_name}/{path.relative_to(host_dir).as_posix()}"] = path.read_bytes()
    files[f"{prefix}/{protocol_name}/__init__.py"] = b'"""The protocol module of e2fgvi-server, for the host side."""\n'
    files[f"{prefix}/{protocol_name}/{protocol_file.name}"] = protocol_file.read_bytes()
    return dict(sorted(files.items()))


def host_package_dir() -> Path:
    """The folder of the host package as this Python imports it (where the adapters' sources are)."""
    from host_plugin import client

    return Path(client.__file__).parent


def host_package_name() -> str:
    """The host package's import name (what vendored code imports: ``host_plugin`` or its installed name)."""
    from host_plugin import client

    return client.__name__.split(".")[0]
