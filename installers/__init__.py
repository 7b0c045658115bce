"""Host and service installers: ``e2fgvi install HOST`` / ``e2fgvi uninstall HOST``, one module per host.

A host installer is any module of this package whose name has no leading ``_`` (``blender.py``, ``service.py``;
the Nuke and Resolve installers join the same way): adding a host is adding one file. ``_framework.py`` holds what
they share (per-OS folders, dry run, guarded blocks with backup, the install receipt that uninstall undoes).
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from e2fgvi_core.errors import ConfigError


def available() -> list[str]:
    """The host names ``e2fgvi install`` accepts, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str) -> ModuleType:
    """The installer module for ``name``; a ``ConfigError`` listing the hosts when there is none."""
    if name not in available():
        raise ConfigError(f"no installer for {name!r}; choose from {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{name}")
