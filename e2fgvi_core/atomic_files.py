"""Files that appear whole or not at all: written to a temp file in the same folder, then renamed.

Why one place: frames have their own writer (``io.writer``, OpenImageIO); the farm's job bundles and session state,
training's checkpoints, logs and configs, and the server's token file go through ``write_atomic``, so a killed
process never leaves half a file under the final name. Standard library only (the farm side has no torch).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomic", "write_text_atomic"]


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(temp_path)``, then rename the temp file onto ``path`` (missing folders are made).

    The temp file is created mode 0600 (``mkstemp``) and the rename keeps it: a secret (the server's token file) is
    never readable by others, not even for a moment; ``write`` may widen the mode of a file meant to be shared.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(temp))
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """``write_atomic`` for a UTF-8 text file."""
    return write_atomic(path, lambda temp: temp.write_text(text, encoding="utf-8"))
