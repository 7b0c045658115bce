"""Whether a process id still names a running process: the one test behind stale temp files and farm servers."""

from __future__ import annotations

import os

__all__ = ["process_alive"]


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs (also when it belongs to another user, whom signal 0 may not reach)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
