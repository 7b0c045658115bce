"""Byte counts as people type them: ``536870912``, ``512M``, ``2G``, ``1.5G``, ``64KiB``.

One parser for every budget and limit, so a value the environment accepts (``E2FGVI_CACHE_BYTES=512M``) is one the
command line (``--cache-budget-bytes 512M``), the server's settings and a ``submit`` accept too. Suffixes are
binary (K = 1024), as memory budgets are.
"""

from __future__ import annotations

import re
from typing import Any

from e2fgvi_core.errors import ConfigError

__all__ = ["parse_byte_size"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_SCALE = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_byte_size(value: Any, name: str = "size") -> int:
    """A whole number of bytes from an int or a string with an optional K/M/G/T suffix; ``ConfigError`` naming
    ``name`` otherwise (negative numbers, fractions of a byte and booleans included)."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a byte count like 536870912, 512M or 2G, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        match = _SIZE.match(value) if isinstance(value, str) else None
        if match is None:
            raise ConfigError(f"{name} must be a byte count like 536870912, 512M or 2G, got {value!r}")
        exact = float(match.group(1)) * _SCALE[match.group(2).upper()]
        if not exact.is_integer():
            raise ConfigError(f"{name} must be a whole number of bytes, got {value!r}")
        number = int(exact)
    if number < 0:
        raise ConfigError(f"{name} must be >= 0 bytes, got {value!r}")
    return number
