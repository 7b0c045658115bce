"""This user's e2fgvi folders (cache, configuration), where each platform keeps them, from ``platformdirs``.

Why one module and a library: the weights store and the server's access key each used to spell out XDG paths by
hand, so macOS and Windows got Linux folders. ``platformdirs`` knows each platform's convention (``~/.cache``,
``~/Library/Caches``, ``%LOCALAPPDATA%``; XDG variables honoured on Linux). The host side (client, protocol) imports
this module at load time, so the installers' fresh-interpreter scan vendors ``platformdirs`` into hosts' Pythons with
pyzmq and msgpack. Overrides by environment variable (``E2FGVI_WEIGHTS_DIR``...) stay with the caller.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "e2fgvi"


def user_cache_dir() -> Path:
    """Re-creatable per-user data (downloaded or added weights): e.g. ``~/.cache/e2fgvi`` on Linux."""
    return platformdirs.user_cache_path(APP_NAME, appauthor=False)


def user_config_dir() -> Path:
    """Per-user settings and secrets (the server's access key): e.g. ``~/.config/e2fgvi`` on Linux."""
    return platformdirs.user_config_path(APP_NAME, appauthor=False)
