"""The torch-free host side plus one host's adapter package, as files to vendor into a host's folder.

Why shared: the Nuke and Resolve installers both put the modules the bridge loads (client, protocol, error tree;
``blender.host_side_files`` asks a fresh interpreter for them) and one adapter package (``nuke/``, ``resolve/``)
into a host's Python under ``_vendor/``, with their own import names, never torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from .blender import host_side_files as bridge_files

VENDOR = "_vendor"


def commands_file(host: str) -> tuple[str, bytes]:
    """``_vendor/e2fgvi_commands.json``: the absolute ``e2fgvi`` and ``e2fgvi-server`` of the installation that ran
    the installer. The vendored launcher starts those, never the host's own ``sys.executable`` (Nuke's, Blender's
    or Resolve's binary); one that has gone is reported as "re-run ``e2fgvi install HOST``"."""
    from e2fgvi_host.launcher import COMMANDS_FILE, installation_commands

    data = {"host": host, "commands": installation_commands()}
    return f"{VENDOR}/{COMMANDS_FILE}", (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def deps_folder_code(vendor_expression: str, host: str) -> str:
    """Python lines that append ``_vendor/pythonX.Y`` (this Python's vendored pyzmq/msgpack/numpy) to ``sys.path``.

    Appended, not prepended: a host that ships its own numpy keeps it. When the modules are still not found (the
    host's Python changed since the install), one line on stderr says how to fix it; nothing is imported here.
    """
    return (
        "import importlib.util as _util\n\n"
        f"_deps = os.path.join({vendor_expression}, 'python%d.%d' % sys.version_info[:2])\n"
        "if os.path.isdir(_deps) and _deps not in sys.path:\n"
        "    sys.path.append(_deps)\n"
        "if not all(_util.find_spec(_name) for _name in ('zmq', 'msgpack', 'numpy')):\n"
        "    _python = '%d.%d' % sys.version_info[:2]\n"
        "    sys.stderr.write(\n"
        "        'Remove Object: pyzmq, msgpack or numpy is missing for Python ' + _python + ' (' + _deps + '): '\n"
        f"        're-run `e2fgvi install {host} --host-python ' + _python + '`\\n'\n"
        "    )\n"
    )


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
