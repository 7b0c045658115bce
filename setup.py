"""Package layout: the folders ``server/`` and ``host_plugin/`` install as ``e2fgvi_server`` and ``e2fgvi_host``.

Why a setup.py next to pyproject.toml (which holds everything else): a host application (Nuke, Resolve, Blender)
imports our client into its own Python, where a top-level ``server`` or ``host_plugin`` could be anyone's module. The
folders keep their short names in the repository; the import names are unique. setuptools needs the list of
packages spelled out once a folder is renamed, so it is computed here from the tree instead of being kept by hand
(a new sub-package is picked up without touching this file). See docs/architecture.md, "Import names".
"""

from setuptools import find_packages, setup

RENAMED = {"e2fgvi_server": "server", "e2fgvi_host": "host_plugin", "e2fgvi_installers": "installers"}


def _packages() -> list[str]:
    packages = find_packages(include=["e2fgvi_core", "e2fgvi_core.*"])
    for name, folder in RENAMED.items():
        packages += [name, *(f"{name}.{sub}" for sub in find_packages(folder))]
    return packages


setup(package_dir=dict(RENAMED), packages=_packages())
