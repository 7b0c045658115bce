"""``e2fgvi uninstall HOST``: undo exactly what ``e2fgvi install HOST`` did (see ``install.py``)."""

from __future__ import annotations

from e2fgvi_core.cli.install import add_uninstall_arguments as add_arguments
from e2fgvi_core.cli.install import run

__all__ = ["add_arguments", "run"]
